import assert from "node:assert/strict";
import { runCli } from "../../mod/cli/main.ts";
import { config } from "./helpers.ts";

const seed = new URL("../../conf/10-strongswan.jsonc", import.meta.url).pathname;

Deno.test("cli: --version and a bare call say what the plugin is", async () => {
  for (const args of [["--version"], []]) {
    const out = await runCli(args);
    assert.equal(out.exitCode, 0);
    assert.match(
      out.stdout,
      /^CNI strongswan plugin v\d+\.\d+\.\d+\nCNI protocol versions supported: 0\.1\.0.*1\.1\.0\n$/,
    );
  }
});

Deno.test("cli: --help lists the commands", async () => {
  const out = await runCli(["--help"]);
  assert.equal(out.exitCode, 0);
  for (const c of ["validate", "render", "server-config"]) assert.match(out.stdout, new RegExp(c));
});

Deno.test("cli: validate prints the normalised config with the PSK masked", async () => {
  const out = await runCli(["validate", seed]);
  assert.equal(out.exitCode, 0, out.stderr);
  const doc = JSON.parse(out.stdout);
  assert.equal(doc.vpn.psk, "<redacted>");
  assert.equal(doc.vpn.datapath, "auto");
  assert.equal(doc.isGateway, true);
  assert.ok(!out.stdout.includes("dummy1234"));
});

Deno.test("cli: validate of a broken file names line and column, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.jsonc`, '{\n  // c\n  "name": "x"\n  "type": "y"\n}');
    const out = await runCli(["validate", `${dir}/bad.jsonc`]);
    assert.equal(out.exitCode, 1);
    assert.match(out.stderr, /line 4, column 3/);
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify(config({ vpn: { PSK: "hidden-psk", serverIP: "x" } })),
    );
    const bad = await runCli(["validate", `${dir}/bad.json`]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /vpn\.serverIP/);
    assert.ok(!bad.stderr.includes("hidden-psk"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: render gives plain JSON (no comments) that parses strictly", async () => {
  const out = await runCli(["render", seed]);
  assert.equal(out.exitCode, 0);
  assert.ok(!out.stdout.includes("//"));
  const doc = JSON.parse(out.stdout);
  assert.equal(doc.type, "strongswan");
  assert.equal(doc.vpn.PSK, "dummy1234", "the node's file needs the real PSK");
  const list = JSON.parse((await runCli(["render", seed, "--conflist"])).stdout);
  assert.equal(list.name, "ipsec");
  assert.equal(list.plugins.length, 1);
  assert.equal(list.plugins[0].type, "strongswan");
  assert.equal(list.plugins[0].name, undefined);
});

Deno.test("cli: server-config writes the hub's files, swanctl.conf root-only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await runCli([
      "server-config",
      seed,
      "--out",
      `${dir}/hub`,
      "--datapath",
      "userspace",
    ]);
    assert.equal(out.exitCode, 0, out.stderr);
    assert.match(out.stdout, /ip addr add 10\.173\.0\.1\/32 dev lo/);
    assert.match(out.stdout, /in-memory pool: a hub restart forgets them/);
    // Its own socket and /run: safe beside a strongSwan already running.
    assert.match(out.stdout, new RegExp(`--uri unix://${dir}/hub/charon\\.vici`));
    assert.doesNotMatch(out.stdout, /\/var\/run\/charon/);
    assert.ok(!out.stdout.includes("dummy1234"));
    const swanctl = `${dir}/hub/swanctl.conf`;
    assert.equal((await Deno.stat(swanctl)).mode! & 0o777, 0o600);
    assert.match(await Deno.readTextFile(swanctl), /addrs = 10\.173\.0\.2-10\.173\.255\.254/);
    assert.match(await Deno.readTextFile(`${dir}/hub/strongswan.conf`), /kernel-libipsec/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: usage errors exit 2 with the usage", async () => {
  for (const args of [["bogus"], ["validate"], ["server-config", seed], ["--nope"]]) {
    const out = await runCli(args);
    assert.equal(out.exitCode, 2, `${args}: ${out.stderr}`);
    assert.match(out.stderr, /Usage: strongswan/);
  }
});

Deno.test("cli: server-config refuses a path option that would inject settings, writing nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [flag, value] of [
        ["--log", "/var/log/x\n  load = stroke"],
        ["--vici-socket", "/run/x # y"],
        ["--out", "relative"],
      ]
    ) {
      const args = ["server-config", seed, "--out", `${dir}/hub`, "--datapath", "userspace"];
      const at = args.indexOf(flag);
      if (at >= 0) args[at + 1] = value;
      else args.push(flag, value);
      const out = await runCli(args);
      assert.equal(out.exitCode, 2, `${flag}: ${out.stderr}`);
      assert.match(out.stderr, new RegExp(`${flag} .* must be an absolute path of letters`));
      await assert.rejects(() => Deno.stat(`${dir}/hub`), "nothing was written");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: server-config replaces a symlink at swanctl.conf instead of writing the PSK through it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/hub`);
    await Deno.writeTextFile(`${dir}/elsewhere`, "");
    await Deno.symlink(`${dir}/elsewhere`, `${dir}/hub/swanctl.conf`);
    const out = await runCli([
      "server-config",
      seed,
      "--out",
      `${dir}/hub`,
      "--datapath",
      "userspace",
    ]);
    assert.equal(out.exitCode, 0, out.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/elsewhere`), "", "the link's target got no PSK");
    const info = await Deno.lstat(`${dir}/hub/swanctl.conf`);
    assert.ok(info.isFile && (info.mode! & 0o777) === 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a bad field is named with the file, its line and column, and a near-miss key gets 'did you mean'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/net.jsonc`;
    await Deno.writeTextFile(
      file,
      [
        "// my network",
        "{",
        '  "name": "ipsec", "type": "strongswan",',
        '  "vpn": { "serverIP": "10.9.0.2", "virtualSubet": "10.173.0.0/16",',
        '           "hostSubnet": "10.9.0.0/24", "PSK": "x" },',
        '  "ipam": { "type": "host-local" },',
        '  "isGateway": "yes",',
        "}",
      ].join("\n"),
    );
    const out = await runCli(["validate", file]);
    assert.equal(out.exitCode, 1);
    assert.match(out.stderr, new RegExp(`^error: ${file}: invalid network configuration: `));
    assert.match(
      out.stderr,
      /vpn\.virtualSubet \(line 4, column 36\): is not a setting this plugin knows; did you mean virtualSubnet\?/,
    );
    assert.match(out.stderr, /isGateway \(line 7, column 3\): must be true or false/);
    assert.doesNotMatch(out.stderr, /Invalid input|Unrecognized key/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: validate reads the PSK file as ADD would, and says why it cannot", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/net.json`,
      JSON.stringify(
        config({ vpn: { PSK: undefined, pskFile: "/etc/cni/strongswan/no-such.psk" } }),
      ),
    );
    const out = await runCli(["validate", `${dir}/net.json`]);
    assert.equal(out.exitCode, 1);
    assert.match(
      out.stderr,
      /vpn\.pskFile \/etc\/cni\/strongswan\/no-such\.psk cannot be (read|trusted)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: lease-server-config writes dnsmasq's drop-in under --root, and --kea says what it lacks", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await runCli(["lease-server-config", seed, "--install", "--root", dir]);
    assert.equal(out.exitCode, 0, out.stderr);
    const dropIn = await Deno.readTextFile(`${dir}/etc/dnsmasq.d/strongswan-cni.conf`);
    assert.match(dropIn, /^dhcp-range=10\.173\.0\.2,10\.173\.255\.254,255\.255\.0\.0,infinite$/m);
    assert.match(out.stdout, /ip route replace 10\.173\.0\.0\/16 via 10\.9\.0\.2/);
    const kea = await runCli([
      "lease-server-config",
      seed,
      "--out",
      `${dir}/kea`,
      "--kea",
      "--role",
      "primary",
    ]);
    assert.equal(kea.exitCode, 2);
    assert.match(kea.stderr, /--kea needs --self IP and --peer IP/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
