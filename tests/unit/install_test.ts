/**
 * `install` and `uninstall` as an operator runs them: the built plugin
 * (what `deno task build` made) exec'd with folders of the test's own.
 */

import assert from "node:assert/strict";
import { BUNDLE } from "../../lab/plugin.ts";
import { agentUnit } from "../../mod/cli/agent_unit.ts";
import { config } from "./helpers.ts";

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", "--no-config", BUNDLE, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const t = new TextDecoder();
  return { code: out.code, stdout: t.decode(out.stdout), stderr: t.decode(out.stderr) };
}

async function withDirs(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function files(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch {
    // No such directory: nothing in it.
  }
  return names.sort();
}

Deno.test("install: the plugin, a comment-free .conflist and the agent's unit, atomically, once; again changes nothing", async () => {
  await withDirs(async (dir) => {
    const source = `${dir}/net.jsonc`;
    const { cniVersion: _, ...noVersion } = config({ name: "ipsec" });
    await Deno.writeTextFile(source, `// a comment\n${JSON.stringify(noVersion, null, 2)}`);
    const args = [
      "install",
      "--config",
      source,
      "--bin-dir",
      `${dir}/bin`,
      "--conf-dir",
      `${dir}/net.d`,
      "--agent",
      "--unit-dir",
      `${dir}/units`,
    ];
    const first = await cli(...args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /bin\/strongswan: created \(a launcher for .*strongswan\.js\)/);
    assert.match(
      first.stdout,
      /10-ipsec\.conflist: created .*cniVersion 1\.0\.0 \(libcni 1\.2\+: 1\.1\.0\), mode 600: it holds the PSK/,
    );
    const bin = await Deno.stat(`${dir}/bin/strongswan`);
    assert.equal(bin.mode! & 0o777, 0o755);
    const conflist = `${dir}/net.d/10-ipsec.conflist`;
    assert.equal((await Deno.stat(conflist)).mode! & 0o777, 0o600);
    const doc = JSON.parse(await Deno.readTextFile(conflist));
    // libcni before 1.2 reads cniVersion only; 1.2+ picks the newest of cniVersions.
    assert.equal(doc.cniVersion, "1.0.0");
    assert.deepEqual(
      doc.cniVersions,
      ["1.0.0", "1.1.0"],
      "every command the plugin has is enabled",
    );
    assert.equal(doc.plugins[0].type, "strongswan");
    // The installed launcher is a working plugin.
    const version = await new Deno.Command(`${dir}/bin/strongswan`, {
      env: { CNI_COMMAND: "VERSION" },
      stdout: "piped",
    }).output();
    assert.match(new TextDecoder().decode(version.stdout), /"supportedVersions"/);

    const unit = `${dir}/units/strongswan-cni-agent.service`;
    assert.match(
      first.stdout,
      /strongswan-cni-agent\.service: created \(the node agent: systemctl/,
    );
    const text = await Deno.readTextFile(unit);
    assert.match(text, new RegExp(`^ExecStart=${dir}/bin/strongswan agent$`, "m"));
    assert.match(
      text,
      /^KillMode=process$/m,
      "a restart of the agent must not end the pods' daemons",
    );
    assert.equal((await Deno.stat(unit)).mode! & 0o777, 0o644);
    const verify = await new Deno.Command("systemd-analyze", { args: ["verify", unit] }).output()
      .catch(() => undefined);
    if (verify) {
      assert.equal(verify.code, 0, new TextDecoder().decode(verify.stderr));
    } else console.error("systemd-analyze is missing: the unit was not verified by systemd");

    const second = await cli(...args);
    assert.equal(second.stdout.match(/already up to date/g)?.length, 3, second.stdout);
    assert.deepEqual(await files(`${dir}/net.d`), ["10-ipsec.conflist"], "no temp file left");

    // --force: attachments of parallel root tests may be running on this machine.
    const uninstall = [
      "uninstall",
      "--bin-dir",
      `${dir}/bin`,
      "--conf-dir",
      `${dir}/net.d`,
      "--unit-dir",
      `${dir}/units`,
      "--force",
    ];
    const gone = await cli(...uninstall);
    assert.equal(gone.code, 0, gone.stderr);
    assert.deepEqual(await files(`${dir}/bin`), []);
    assert.deepEqual(await files(`${dir}/net.d`), []);
    assert.deepEqual(await files(`${dir}/units`), []);
    assert.match((await cli(...uninstall)).stdout, /nothing to remove/);
  });
});

Deno.test("install: an explicit old cniVersion is kept, with a warning naming what it switches off", async () => {
  await withDirs(async (dir) => {
    await Deno.writeTextFile(`${dir}/net.json`, JSON.stringify(config({ cniVersion: "1.0.0" })));
    const out = await cli(
      "install",
      "--config",
      `${dir}/net.json`,
      "--bin-dir",
      `${dir}/bin`,
      "--conf-dir",
      `${dir}/net.d`,
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /warning: cniVersion 1\.0\.0 switches off STATUS, GC/);
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${dir}/net.d/10-net.conflist`)).cniVersion,
      "1.0.0",
    );
  });
});

Deno.test("install: bad input is one sentence and changes nothing", async () => {
  await withDirs(async (dir) => {
    await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify(config()));
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify(config({ vpn: { serverIP: "nope" } })),
    );
    await Deno.writeTextFile(`${dir}/a-file`, "");
    const cases: [string[], RegExp][] = [
      [
        ["--config", `${dir}/bad.json`, "--bin-dir", `${dir}/bin`, "--conf-dir", `${dir}/net.d`],
        /vpn\.serverIP \(line 1, column \d+\): must be an IPv4 address/,
      ],
      [
        [
          "--config",
          `${dir}/good.json`,
          "--bin-dir",
          `${dir}/a-file`,
          "--conf-dir",
          `${dir}/net.d`,
        ],
        /--bin-dir .*a-file is not a directory/,
      ],
      [[
        "--config",
        `${dir}/good.json`,
        "--bin-dir",
        `${dir}/bin`,
        "--conf-dir",
        `${dir}/a-file/net.d`,
      ], /--conf-dir .* cannot be made: .*a-file is not a directory/],
      [[
        "--config",
        `${dir}/good.json`,
        "--bin-dir",
        "/proc/strongswan-bin",
        "--conf-dir",
        `${dir}/net.d`,
      ], /--bin-dir \/proc\/strongswan-bin is not writable here/],
    ];
    for (const [args, message] of cases) {
      const out = await cli("install", ...args);
      assert.equal(out.code, 1, `${args}: ${out.stderr}`);
      assert.match(out.stderr, message);
      assert.doesNotMatch(out.stderr, /Usage:/, "one sentence, not the usage");
      assert.deepEqual(
        await files(dir),
        ["a-file", "bad.json", "good.json"],
        "nothing was written",
      );
    }
  });
});

Deno.test("render --out: atomic, 0600 when it holds the PSK, nothing written when the config is bad", async () => {
  await withDirs(async (dir) => {
    await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify(config()));
    await Deno.writeTextFile(`${dir}/bad.json`, "{ not json");
    const bad = await cli(
      "render",
      `${dir}/bad.json`,
      "--conflist",
      "--out",
      `${dir}/out.conflist`,
    );
    assert.equal(bad.code, 1);
    assert.deepEqual(
      await files(dir),
      ["bad.json", "good.json"],
      "no empty file for a runtime to load",
    );
    const good = await cli(
      "render",
      `${dir}/good.json`,
      "--conflist",
      "--out",
      `${dir}/out.conflist`,
    );
    assert.equal(good.code, 0, good.stderr);
    assert.equal((await Deno.stat(`${dir}/out.conflist`)).mode! & 0o777, 0o600);
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${dir}/out.conflist`)).plugins[0].vpn.PSK,
      "s3cret-psk",
    );
  });
});

Deno.test("install: the agent's unit takes no path systemd could read otherwise", () => {
  assert.match(
    agentUnit("/opt/cni/bin/strongswan"),
    /^ExecStart=\/opt\/cni\/bin\/strongswan agent$/m,
  );
  for (const path of ["/opt/cni bin/strongswan", "/opt/100%/strongswan", "opt/strongswan"]) {
    assert.throws(() => agentUnit(path), /refusing to write .* into a config file/, path);
  }
});
