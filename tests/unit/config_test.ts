import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { ipamInput, parseNetConf, validateNetConf } from "../../mod/config/load.ts";
import { fileProblem, readPsk } from "../../mod/config/psk.ts";
import { directoryProblem } from "../../mod/fs.ts";
import { DEFAULTS } from "../../mod/config/schema.ts";
import { assertRejectsCni, assertThrowsCni, config, SEED_CONFIG } from "./helpers.ts";

Deno.test("config: the seed README's example parses as printed, defaults applied", async () => {
  const conf = await parseNetConf(SEED_CONFIG);
  assert.equal(conf.cniVersion, "0.1.0");
  assert.equal(conf.vpn.serverIP, "10.9.0.2");
  assert.equal(conf.vpn.psk?.reveal(), "dummy1234");
  assert.equal(conf.vpn.datapath, DEFAULTS.datapath);
  assert.equal(conf.vpn.timeout, DEFAULTS.timeout);
  assert.equal(conf.bridge, "docker0");
  assert.equal(conf.isGateway, true, "isDefaultGateway implies isGateway");
  assert.equal(conf.hairpinMode, true);
  assert.equal(conf.promiscMode, false);
  assert.deepEqual(conf.ipam, { type: "host-local", subnet: "172.17.0.0/16" });
});

Deno.test("config: block comments and trailing commas", async () => {
  const conf = await parseNetConf(`/* head */ {
    "name": "n", "type": "strongswan", /* inline */
    "vpn": { "serverIP": "10.0.0.1", "virtualSubnet": "10.1.0.0/16",
             "hostSubnet": "10.0.0.0/24", "psk": "k", },
    "ipam": { "type": "host-local", },
  }`);
  assert.equal(conf.vpn.psk?.reveal(), "k", "the original's lower-case psk is accepted");
  assert.equal(conf.bridge, DEFAULTS.bridge);
});

Deno.test("config: a syntax error is code 6 with line and column", async () => {
  const err = await assertRejectsCni(
    () => parseNetConf('{\n  "name": "n",\n  "vpn": {\n    "x" 1\n'),
    Code.DecodeFailed,
  );
  assert.match(err.message, /line 4, column 9/);
});

Deno.test("config: empty input and non-objects are code 6", async () => {
  await assertRejectsCni(() => parseNetConf("  "), Code.DecodeFailed);
  await assertRejectsCni(() => parseNetConf("[1]"), Code.DecodeFailed);
});

Deno.test("config: plain JSON and JSONC give the same config", async () => {
  const jsonc = await parseNetConf(SEED_CONFIG);
  const plain = await parseNetConf(JSON.stringify(jsonc.raw));
  assert.deepEqual(plain.raw, jsonc.raw);
  assert.equal(plain.vpn.psk?.reveal(), "dummy1234");
});

Deno.test("config: vpn is required (never a silently unencrypted pod)", () => {
  const { vpn: _, ...noVpn } = config();
  const err = assertThrowsCni(() => validateNetConf(noVpn), Code.InvalidConfig);
  assert.match(err.message, /vpn: is required/);
});

Deno.test("config: unknown top-level keys pass, unknown vpn keys fail", () => {
  validateNetConf(config({ runtimeConfig: { x: 1 }, args: {}, capabilities: {} }));
  const err = assertThrowsCni(
    () => validateNetConf(config({ vpn: { serverIp: "1.2.3.4" } })),
    Code.InvalidConfig,
  );
  assert.match(
    err.message,
    /vpn\.serverIp: is not a setting this plugin knows; did you mean serverIP\?/,
  );
});

const fieldErrors: [string, Record<string, unknown>, RegExp][] = [
  ["name", { name: "-bad" }, /(?:: |; )name: /m],
  ["type", { type: "" }, /(?:: |; )type: /m],
  [
    "vpn.serverIP",
    { vpn: { serverIP: "10.9.0.256" } },
    /(?:: |; )vpn\.serverIP: must be an IPv4 address/m,
  ],
  [
    "vpn.virtualSubnet",
    { vpn: { virtualSubnet: "10.173.0.0" } },
    /(?:: |; )vpn\.virtualSubnet: must be an IPv4 CIDR/m,
  ],
  [
    "vpn.virtualSubnet host bits",
    { vpn: { virtualSubnet: "10.173.1.0/16" } },
    /did you mean 10\.173\.0\.0\/16/,
  ],
  ["vpn.hostSubnet", { vpn: { hostSubnet: "10.9.0.0/33" } }, /(?:: |; )vpn\.hostSubnet: /m],
  ["vpn.PSK empty", { vpn: { PSK: "" } }, /(?:: |; )vpn\.PSK: must not be empty/m],
  ["vpn.PSK and pskFile", { vpn: { pskFile: "/etc/psk" } }, /exactly one of PSK, psk or pskFile/],
  [
    "vpn.pskFile relative",
    { vpn: { PSK: undefined, pskFile: "psk" } },
    /(?:: |; )vpn\.pskFile: must be a file directly in \/etc\/cni\/strongswan\//m,
  ],
  [
    "vpn.pskFile outside its directory",
    { vpn: { PSK: undefined, pskFile: "/etc/cni/strongswan/../../shadow" } },
    /(?:: |; )vpn\.pskFile: must be a file directly in/m,
  ],
  [
    "vpn.virtualSubnet 0.0.0.0/0",
    { vpn: { virtualSubnet: "0.0.0.0/0" } },
    /vpn\.virtualSubnet: must be a \/8 to \/30: a wider one would take over the node's own routes/,
  ],
  [
    "vpn.hostSubnet too wide",
    { vpn: { hostSubnet: "10.0.0.0/7" } },
    /vpn\.hostSubnet: must be a \/8 to \/32/,
  ],
  [
    "vpn.virtualSubnet in loopback",
    { vpn: { virtualSubnet: "127.0.0.0/16" } },
    /vpn\.virtualSubnet: overlaps the loopback range 127\.0\.0\.0\/8/,
  ],
  [
    "vpn.virtualSubnet overlapping hostSubnet",
    { vpn: { virtualSubnet: "10.9.0.0/16" } },
    /vpn\.virtualSubnet: overlaps vpn\.hostSubnet/,
  ],
  [
    "vpn.serverIP inside virtualSubnet",
    { vpn: { serverIP: "10.173.0.9" } },
    /vpn\.virtualSubnet: holds vpn\.serverIP 10\.173\.0\.9/,
  ],
  [
    "ipam subnet overlapping virtualSubnet",
    { ipam: { type: "host-local", subnet: "10.173.128.0/24" } },
    /ipam: subnet 10\.173\.128\.0\/24 overlaps vpn\.virtualSubnet/,
  ],
  [
    "ipam ranges overlapping hostSubnet",
    { ipam: { type: "host-local", ranges: [[{ subnet: "10.9.0.0/16" }]] } },
    /ipam: subnet 10\.9\.0\.0\/16 overlaps vpn\.hostSubnet/,
  ],
  [
    "vpn.serverIdentity with syntax",
    { vpn: { serverIdentity: "hub\n  load = stroke" } },
    /vpn\.serverIdentity: must be an IPv4 address, a host name or user@host/,
  ],
  ["vpn.datapath", { vpn: { datapath: "fast" } }, /(?:: |; )vpn\.datapath: /m],
  ["vpn.timeout", { vpn: { timeout: 0 } }, /(?:: |; )vpn\.timeout: /m],
  [
    "bridge",
    { bridge: "a-very-long-bridge0" },
    /(?:: |; )bridge: is not a valid interface name: it is longer than 15/m,
  ],
  [
    "bridge with a comment character",
    { bridge: "br#0" },
    /(?:: |; )bridge: is not a valid interface name: it may hold only letters, digits/m,
  ],
  ["isGateway", { isGateway: "yes" }, /(?:: |; )isGateway: /m],
  ["isDefaultGateway", { isDefaultGateway: 1 }, /(?:: |; )isDefaultGateway: /m],
  ["forceAddress", { forceAddress: "no" }, /(?:: |; )forceAddress: /m],
  ["ipMasq", { ipMasq: null }, /(?:: |; )ipMasq: /m],
  ["mtu", { mtu: 20 }, /(?:: |; )mtu: /m],
  ["hairpinMode", { hairpinMode: "on" }, /(?:: |; )hairpinMode: /m],
  ["promiscMode", { promiscMode: 0 }, /(?:: |; )promiscMode: /m],
  ["ipam missing", { ipam: undefined }, /(?:: |; )ipam: is required/m],
  [
    "ipam.type path",
    { ipam: { type: "../../bin/sh" } },
    /(?:: |; )ipam\.type: must be a plugin name/m,
  ],
  [
    "ipam.type slash",
    { ipam: { type: "/usr/bin/x" } },
    /(?:: |; )ipam\.type: must be a plugin name/m,
  ],
];
for (const [field, overrides, expected] of fieldErrors) {
  Deno.test(`config: bad ${field} is code 7 naming it`, () => {
    const err = assertThrowsCni(() => validateNetConf(config(overrides)), Code.InvalidConfig);
    assert.match(err.message, expected);
  });
}

Deno.test("config: every bad field is named at once", () => {
  const err = assertThrowsCni(
    () => validateNetConf(config({ mtu: "x", vpn: { serverIP: "x", hostSubnet: "y" } })),
    Code.InvalidConfig,
  );
  for (const path of ["mtu", "vpn.serverIP", "vpn.hostSubnet"]) {
    assert.match(err.message, new RegExp(`(?:: |; )${path.replace(".", "\\.")}: `));
  }
});

Deno.test("config: the PSK never appears in an error", () => {
  const psk = "TOP-SECRET-VALUE";
  for (
    const bad of [
      config({ vpn: { PSK: psk, psk, serverIP: "bad" } }),
      config({ vpn: { PSK: psk, typo: psk } }),
      config({ vpn: { PSK: psk }, mtu: psk }),
    ]
  ) {
    const err = assertThrowsCni(() => validateNetConf(bad), Code.InvalidConfig);
    assert.ok(!JSON.stringify({ m: err.message, d: err.details }).includes(psk));
  }
  const conf = validateNetConf(config({ vpn: { PSK: psk } }));
  assert.ok(!JSON.stringify(conf.vpn).includes(psk), "the PSK serialises as <redacted>");
  assert.ok(!String(conf.vpn.psk).includes(psk));
  assert.ok(!Deno.inspect(conf.vpn).includes(psk));
  assert.ok(!ipamInput(conf).includes(psk), "the IPAM plugin never sees the PSK");
});

Deno.test("config: unsupported cniVersion is code 1, absent is 0.1.0", () => {
  assertThrowsCni(() => validateNetConf(config({ cniVersion: "2.0.0" })), Code.IncompatibleVersion);
  const { cniVersion: _, ...noVersion } = config();
  assert.equal(validateNetConf(noVersion).cniVersion, "0.1.0");
});

Deno.test("config: ipam passes through untouched", () => {
  const ipam = { type: "host-local", ranges: [[{ subnet: "10.0.0.0/24" }]], dataDir: "/x" };
  const conf = validateNetConf(config({ ipam }));
  assert.deepEqual(conf.ipam, ipam);
  assert.deepEqual(JSON.parse(ipamInput(conf)).ipam, ipam);
});

Deno.test("config: the hub's identity is pinned, serverIP unless set", () => {
  assert.equal(validateNetConf(config()).vpn.serverIdentity, "10.9.0.2");
  const named = validateNetConf(config({ vpn: { serverIdentity: "hub.example.org" } }));
  assert.equal(named.vpn.serverIdentity, "hub.example.org");
});

Deno.test("config: vpn.hubAddress is optional, the first or last usable address of virtualSubnet", () => {
  assert.equal(validateNetConf(config()).vpn.hubAddress, undefined);
  for (const hubAddress of ["10.173.0.1", "10.173.255.254"]) {
    assert.equal(validateNetConf(config({ vpn: { hubAddress } })).vpn.hubAddress, hubAddress);
  }
  const inside = assertThrowsCni(
    () => validateNetConf(config({ vpn: { hubAddress: "10.173.4.4" } })),
    Code.InvalidConfig,
  );
  assert.match(
    inside.message,
    /vpn\.hubAddress: must be the first or the last usable address of vpn\.virtualSubnet \(10\.173\.0\.1 or 10\.173\.255\.254\)/,
  );
  const outside = assertThrowsCni(
    () => validateNetConf(config({ vpn: { hubAddress: "10.9.0.2" } })),
    Code.InvalidConfig,
  );
  assert.match(
    outside.message,
    /vpn\.hubAddress: lies outside vpn\.virtualSubnet 10\.173\.0\.0\/16/,
  );
});

Deno.test("config: a missing field says it is required, a wrong type says what it must be", () => {
  const err = assertThrowsCni(
    () => validateNetConf(config({ vpn: { serverIP: undefined }, isGateway: "yes" })),
    Code.InvalidConfig,
  );
  assert.match(err.message, /vpn\.serverIP: is required/);
  assert.match(err.message, /isGateway: must be true or false/);
  assert.doesNotMatch(err.message, /Invalid input|expected/);
});

Deno.test("config: an unsupported cniVersion lists the supported ones", () => {
  const err = assertThrowsCni(
    () => validateNetConf(config({ cniVersion: "1.2.0" })),
    Code.IncompatibleVersion,
  );
  assert.match(err.message, /cniVersion 1\.2\.0 is not supported; use one of 0\.1\.0, .*1\.1\.0/);
});

Deno.test("config: a '#' comment is named as such", async () => {
  const err = await assertRejectsCni(
    () => parseNetConf('# a comment\n{"name": "x"}'),
    Code.DecodeFailed,
  );
  assert.match(
    err.message,
    /a '#' comment \(only \/\/ and \/\* \*\/ comments are allowed\) at line 1, column 1/,
  );
});

const info = (over: Partial<Deno.FileInfo>): Deno.FileInfo =>
  ({
    isFile: true,
    isDirectory: false,
    isSymlink: false,
    uid: 0,
    mode: 0o100600,
    size: 10,
    dev: 1,
    ino: 7,
    ...over,
  }) as Deno.FileInfo;

Deno.test("psk file: the opened file must be the one checked: regular, root's, 0600, small", () => {
  assert.equal(fileProblem(info({}), info({})), undefined);
  assert.match(fileProblem(info({ isSymlink: true }), info({}))!, /is a symlink/);
  assert.match(fileProblem(info({}), info({ ino: 8 }))!, /replaced while it was being opened/);
  assert.match(fileProblem(info({}), info({ uid: 1000 }))!, /owned by uid 1000, not root/);
  assert.match(
    fileProblem(info({}), info({ mode: 0o100644 }))!,
    /readable by group or others \(mode 0644\); chmod 600 it/,
  );
  assert.match(fileProblem(info({}), info({ isFile: false }))!, /not a regular file/);
  assert.match(fileProblem(info({}), info({ size: 5000 }))!, /larger than 4096 bytes/);
});

Deno.test("psk file: every directory on the way must be root's and not writable by others", () => {
  const dir = (over: Partial<Deno.FileInfo>) =>
    info({ isFile: false, isDirectory: true, mode: 0o40755, ...over });
  assert.equal(directoryProblem("/etc", dir({})), undefined);
  assert.match(
    directoryProblem("/etc/cni", dir({ mode: 0o40777 }))!,
    /writable by group or others/,
  );
  assert.match(directoryProblem("/etc/cni", dir({ uid: 5 }))!, /not owned by root/);
  assert.match(directoryProblem("/etc/cni", dir({ isSymlink: true }))!, /is a symlink/);
});

Deno.test("psk file: a missing one says so", async () => {
  const conf = validateNetConf(
    config({ vpn: { PSK: undefined, pskFile: "/etc/cni/strongswan/no-such-file" } }),
  );
  const err = await assertRejectsCni(() => readPsk(conf.vpn), Code.InvalidConfig);
  assert.match(err.message, /(does not exist|cannot be trusted)/);
});
