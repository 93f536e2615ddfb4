import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { validateNetConf } from "../../mod/config/load.ts";
import { canonicalCidr, contains, parseCidr, parseIPv4 } from "../../mod/net/cidr.ts";
import {
  batchSynced,
  gatewaysOf,
  planBridgeAddress,
  planNodeSide,
  planPodInterface,
  podBatchFailure,
  podRoutes,
} from "../../mod/net/links.ts";
import { planMasqAdd, planMasqDel, planMasqDelKnown, ruleComment } from "../../mod/net/masq.ts";
import { attachmentNames, bridgeMac, ikeIdentity, namesOfStateDir } from "../../mod/net/names.ts";
import { planNodeRoute, routeListed } from "../../mod/net/noderoute.ts";
import { renumberBatchFailures } from "../../mod/net/nodeip.ts";
import { batchFailures } from "../../mod/net/ipbatch.ts";
import { renderConfig } from "../../mod/cli/render.ts";
import { assertThrowsCni, config } from "./helpers.ts";

Deno.test("cidr: parse, contain, canonicalise", () => {
  assert.equal(parseIPv4("10.9.0.2"), 0x0a090002);
  assert.equal(parseIPv4("256.0.0.1"), undefined);
  assert.equal(parseIPv4("1.2.3"), undefined);
  // Leading zeros read as octal elsewhere: refused, so accepted text is canonical.
  assert.equal(parseIPv4("010.9.0.2"), undefined);
  assert.equal(parseIPv4("0.0.0.0"), 0);
  assert.equal(parseCidr("10.0.0.0/08"), undefined);
  const c = parseCidr("10.9.0.0/24")!;
  assert.ok(contains(c, parseIPv4("10.9.0.2")!));
  assert.ok(!contains(c, parseIPv4("10.9.1.2")!));
  assert.equal(canonicalCidr(parseCidr("172.17.3.4/16")!), "172.17.0.0/16");
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.ok(contains(parseCidr("0.0.0.0/0")!, parseIPv4("8.8.8.8")!));
});

Deno.test("names: derived from the attachment, stable, within kernel limits", async () => {
  const a = await attachmentNames("0123456789abcdef", "eth0");
  assert.deepEqual(a, await attachmentNames("0123456789abcdef", "eth0"));
  assert.ok(a.hostVeth.length <= 15);
  assert.ok(a.chain.length <= 28);
  assert.match(a.hostMac, /^02(:[0-9a-f]{2}){5}$/);
  assert.notEqual(a.hostMac, a.podMac);
  assert.match(a.stateDir, /^\/var\/lib\/cni\/strongswan\/[0-9a-f]{16}$/);
  const b = await attachmentNames("0123456789abcdef", "eth1");
  assert.notEqual(a.hostVeth, b.hostVeth);
  assert.notEqual(a.chain, b.chain);
  assert.deepEqual(namesOfStateDir(a.stateDir), {
    hostVeth: a.hostVeth,
    chain: a.chain,
    stateDir: a.stateDir,
  });
  assert.equal(namesOfStateDir("/var/lib/cni/strongswan/not-a-hash"), undefined);
});

Deno.test("names: a 64-hex container ID and a 15-character interface fit the vici socket path", async () => {
  const { stateDir } = await attachmentNames("f".repeat(64), "abcdefghijklmno");
  assert.ok(`${stateDir}/charon.vici`.length <= 107);
});

Deno.test("names: injective where 'ID.IF' was not (a.b + c vs a + b.c)", async () => {
  const x = await attachmentNames("a.b", "c");
  const y = await attachmentNames("a", "b.c");
  assert.notEqual(x.stateDir, y.stateDir);
  assert.notEqual(x.hostVeth, y.hostVeth);
  assert.notEqual(ikeIdentity("a.b", "c"), ikeIdentity("a", "b.c"));
  assert.equal(ikeIdentity("a.b", "c"), "c@a.b");
});

Deno.test("names: the IKE identity names the pod for the hub, stays unique and short", () => {
  const id = "f".repeat(64);
  const pod = { namespace: "default", name: "web-0" };
  assert.equal(ikeIdentity(id, "eth0", pod), `default/web-0/eth0@${id}`);
  const long = ikeIdentity(id, "eth0", { namespace: "n".repeat(63), name: "p".repeat(253) });
  assert.ok(long.length <= 128, `${long.length}`);
  assert.ok(long.endsWith(`/eth0@${id}`), "the unique part is never cut");
  assert.notEqual(ikeIdentity(id, "eth0", pod), ikeIdentity(id, "eth1", pod));
});

const conf = validateNetConf(
  config({ bridge: "docker0", mtu: 1400, hairpinMode: true, isDefaultGateway: true }),
);

Deno.test("links: the node side is one batch: bridge if missing, veth into the netns, bridge up last, then its state", async () => {
  const names = await attachmentNames("c1", "eth0");
  const mac = await bridgeMac("docker0");
  const { lines, masterLine } = planNodeSide(conf, names, "eth0", "/run/netns/p", mac);
  assert.deepEqual(lines, [
    `link add name docker0 mtu 1400 address ${mac} type bridge`,
    `link add name ${names.hostVeth} mtu 1400 address ${names.hostMac} type veth peer name eth0 mtu 1400 address ${names.podMac} netns /run/netns/p`,
    `link set dev ${names.hostVeth} master docker0 up`,
    `link set dev ${names.hostVeth} type bridge_slave hairpin on`,
    "link set dev docker0 up",
    "addr show dev docker0",
  ]);
  // Enslaving comes before the bridge is brought up: a non-bridge of that name stops the batch first.
  assert.equal(masterLine, 2);
  assert.ok(masterLine < lines.indexOf("link set dev docker0 up"));
  const existing = planNodeSide(
    validateNetConf(config({ promiscMode: true })),
    names,
    "eth0",
    "/x",
    undefined,
  );
  assert.equal(existing.masterLine, 1, "no bridge line when it exists");
  assert.ok(!existing.lines[0].includes("mtu"));
  assert.ok(existing.lines.includes("link set dev cni0 up promisc on"));
  assert.throws(() => planNodeSide(conf, names, "eth0", "/run/netns/a b", undefined), /refusing/);
});

Deno.test("links: gateway defaults to the subnet's first address when the bridge is a gateway", () => {
  assert.deepEqual(gatewaysOf(conf, [{ address: "172.17.0.5/16" }]), [
    { address: "172.17.0.5/16", gateway: "172.17.0.1" },
  ]);
  const notGw = validateNetConf(config());
  assert.deepEqual(gatewaysOf(notGw, [{ address: "172.17.0.5/16" }]), [{
    address: "172.17.0.5/16",
  }]);
});

Deno.test("links: default route only with isDefaultGateway, never twice", () => {
  const ips = [{ address: "172.17.0.5/16", gateway: "172.17.0.1" }];
  assert.deepEqual(podRoutes(conf, ips, []), [{ dst: "0.0.0.0/0", gw: "172.17.0.1" }]);
  assert.deepEqual(podRoutes(conf, ips, [{ dst: "0.0.0.0/0" }]), [{ dst: "0.0.0.0/0" }]);
  assert.deepEqual(podRoutes(validateNetConf(config()), ips, [{ dst: "10.0.0.0/8" }]), [{
    dst: "10.0.0.0/8",
  }]);
});

Deno.test("links: pod batch adds addresses, brings the link up, then routes via the gateway", () => {
  const lines = planPodInterface(
    "eth0",
    [{ address: "172.17.0.5/16", gateway: "172.17.0.1" }],
    [{ dst: "0.0.0.0/0", gw: "172.17.0.1" }, { dst: "10.0.0.0/8" }],
  );
  assert.deepEqual(lines, [
    "addr add 172.17.0.5/16 dev eth0",
    "link set dev eth0 up",
    "route add 0.0.0.0/0 via 172.17.0.1 dev eth0",
    "route add 10.0.0.0/8 via 172.17.0.1 dev eth0",
  ]);
});

Deno.test("links: the pod batch's sync line tells when its lines ran, and which failure matters", () => {
  // What `ip -force -batch -` printed (the sync line is line 3, 0-based).
  const ruleExists = "RTNETLINK answers: File exists\nCommand failed -:2\n";
  const sync = 'Device "strongswan-cni/sync" does not exist.\nCommand failed -:4\n';
  assert.equal(batchSynced(ruleExists, 3), false);
  assert.equal(batchSynced(ruleExists + sync, 3), true);
  // Line 1 is a rule another attachment may have made: "File exists" is fine there only.
  assert.equal(podBatchFailure(ruleExists + sync, 3, new Set([1])), undefined);
  assert.deepEqual(podBatchFailure(ruleExists + sync, 3, new Set()), {
    line: 1,
    message: "RTNETLINK answers: File exists",
  });
  const vipFailed = "Error: ipv4: Address already assigned.\nCommand failed -:5\n";
  assert.deepEqual(podBatchFailure(sync + vipFailed, 3, new Set([1])), {
    line: 4,
    message: "Error: ipv4: Address already assigned.",
  });
});

Deno.test("links: the kept ip's failures are numbered from the batch, not from its start", () => {
  // It had read 12 lines before this batch; the batch's third line (0-based 2) failed.
  const stderr = 'Cannot find device "veth1"\nCommand failed -:15\n';
  assert.deepEqual(batchFailures(renumberBatchFailures(stderr, 12)), [
    { line: 2, message: 'Cannot find device "veth1"' },
  ]);
  assert.equal(renumberBatchFailures("no failure\n", 12), "no failure\n");
});

Deno.test("links: bridge address kept, added, or (forceAddress) replaced", () => {
  const has = (local: string) => [{ local, prefixlen: 16, family: "inet" }];
  assert.deepEqual(planBridgeAddress("br", has("172.17.0.1"), "172.17.0.1/16", false), {
    remove: [],
  });
  assert.deepEqual(planBridgeAddress("br", [], "172.17.0.1/16", false), {
    add: "172.17.0.1/16",
    remove: [],
  });
  const err = assertThrowsCni(
    () => planBridgeAddress("br", has("172.18.0.1"), "172.17.0.1/16", false),
    Code.LinkFailed,
  );
  assert.match(err.message, /forceAddress/);
  assert.deepEqual(planBridgeAddress("br", has("172.18.0.1"), "172.17.0.1/16", true), {
    add: "172.17.0.1/16",
    remove: ["172.18.0.1/16"],
  });
  const v6 = [{ local: "fe80::1", prefixlen: 64, family: "inet6" }];
  assert.deepEqual(planBridgeAddress("br", v6, "172.17.0.1/16", false).add, "172.17.0.1/16");
});

Deno.test("masq: one chain, ACCEPT within the bridge subnet, MASQUERADE beyond, a jump per address", () => {
  const comment = ruleComment("ipsec", "c1");
  const c = `-m comment --comment "${comment}"`;
  assert.equal(
    planMasqAdd("SWAN-ABC", ["172.17.0.5/16"], comment),
    [
      "*nat",
      ":SWAN-ABC - [0:0]",
      `-A SWAN-ABC -d 172.17.0.0/16 ${c} -j ACCEPT`,
      `-A SWAN-ABC ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
      `-A POSTROUTING -s 172.17.0.5/32 ${c} -j SWAN-ABC`,
      "COMMIT",
      "",
    ].join("\n"),
  );
  const three = planMasqAdd("SWAN-ABC", ["172.17.0.5/16", "172.17.9.9/16", "10.1.0.5/24"], comment);
  assert.equal(three.match(/-j ACCEPT/g)?.length, 2, "one ACCEPT per distinct subnet");
  assert.equal(three.match(/-A POSTROUTING/g)?.length, 3, "one jump per address");
});

Deno.test("masq: DEL removes exactly this attachment's jump and chain, nothing when gone", () => {
  const saved = [
    "*nat",
    ":POSTROUTING ACCEPT [0:0]",
    ":SWAN-ABC - [0:0]",
    ":SWAN-OTHER - [0:0]",
    '-A POSTROUTING -s 172.17.0.5/32 -m comment --comment "strongswan-cni: n c1" -j SWAN-ABC',
    '-A POSTROUTING -s 172.17.0.6/32 -m comment --comment "strongswan-cni: n c2" -j SWAN-OTHER',
    "-A SWAN-ABC -d 172.17.0.0/16 -j ACCEPT",
    "COMMIT",
  ].join("\n");
  assert.equal(
    planMasqDel(saved, "SWAN-ABC"),
    [
      "*nat",
      '-D POSTROUTING -s 172.17.0.5/32 -m comment --comment "strongswan-cni: n c1" -j SWAN-ABC',
      "-F SWAN-ABC",
      "-X SWAN-ABC",
      "COMMIT",
      "",
    ].join("\n"),
  );
  assert.equal(planMasqDel("*nat\nCOMMIT\n", "SWAN-ABC"), undefined);
});

Deno.test("node route: via the hub, or via the gateway toward it, none on the hub itself", () => {
  assert.deepEqual(planNodeRoute("10.173.0.0/16", "10.9.0.2", {}), [
    "ip",
    "route",
    "add",
    "10.173.0.0/16",
    "via",
    "10.9.0.2",
  ]);
  assert.equal(
    planNodeRoute("10.173.0.0/16", "10.9.0.2", { gateway: "10.9.0.1" })?.at(-1),
    "10.9.0.1",
  );
  assert.equal(planNodeRoute("10.173.0.0/16", "10.9.0.2", { type: "local" }), undefined);
});

Deno.test("links: the bridge's fixed MAC comes from its name, so ports coming and going never change it", async () => {
  const mac = await bridgeMac("docker0");
  assert.equal(mac, await bridgeMac("docker0"));
  assert.notEqual(mac, await bridgeMac("cni0"));
  assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
});

Deno.test("node route: found in /proc/net/route without running ip", () => {
  const table = [
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
    "eth0\t00000000\t0200090A\t0003\t0\t0\t0\t00000000\t0\t0\t0",
    "eth0\t00AD0A00\t0200090A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0",
  ].join("\n");
  assert.ok(!routeListed(table, "10.173.0.0/16"), "00AD0A00 is 0.10.173.0");
  const withRoute = `${table}\neth0\t0000AD0A\t0200090A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0`;
  assert.ok(routeListed(withRoute, "10.173.0.0/16"));
  assert.ok(!routeListed(withRoute, "10.173.0.0/24"), "the prefix length counts");
});

Deno.test("masq: with ADD's record, DEL removes exactly its rules in one batch", () => {
  const comment = ruleComment("ipsec", "c1");
  assert.equal(
    planMasqDelKnown("SWAN-ABC", ["172.17.0.5/16"], comment),
    [
      "*nat",
      `-D POSTROUTING -s 172.17.0.5/32 -m comment --comment "${comment}" -j SWAN-ABC`,
      "-F SWAN-ABC",
      "-X SWAN-ABC",
      "COMMIT",
      "",
    ].join("\n"),
  );
});

Deno.test("render: no cniVersion gives 1.0.0 for libcni 1.1 and cniVersions up to 1.1.0 for 1.2+", () => {
  const { cniVersion: _, ...noVersion } = config();
  const list = renderConfig(validateNetConf(noVersion), true);
  assert.equal(list.doc.cniVersion, "1.0.0");
  assert.deepEqual(list.doc.cniVersions, ["1.0.0", "1.1.0"]);
  assert.deepEqual(list.warnings, []);
  // libcni reads cniVersions only in a conflist.
  const single = renderConfig(validateNetConf(noVersion), false);
  assert.equal(single.doc.cniVersion, "1.0.0");
  assert.equal(single.doc.cniVersions, undefined);
});

Deno.test("render: an explicit cniVersion is kept; 1.1.0 alone warns that libcni 1.1 refuses it", () => {
  const newest = renderConfig(validateNetConf(config({ cniVersion: "1.1.0" })), true);
  assert.equal(newest.doc.cniVersion, "1.1.0");
  assert.equal(newest.doc.cniVersions, undefined);
  assert.equal(newest.warnings.length, 1);
  assert.match(
    newest.warnings[0],
    /refused by libcni before 1\.2 \(containerd 1\.6 and 1\.7, podman 4/,
  );
  const old = renderConfig(validateNetConf(config({ cniVersion: "0.3.1" })), true);
  assert.deepEqual(old.warnings, [
    "cniVersion 0.3.1 switches off CHECK, STATUS, GC (runtimes never call them); remove cniVersion to render 1.0.0 with cniVersions up to 1.1.0",
  ]);
});
