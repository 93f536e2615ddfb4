import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { validateNetConf } from "../../mod/config/load.ts";
import { Secret } from "../../mod/config/secret.ts";
import {
  pathProblem,
  pluginList,
  podConnection,
  podStrongswanConf,
} from "../../mod/ipsec/config.ts";
import { hubAddressing } from "../../mod/hub/addressing.ts";
import { hubStrongswanConf } from "../../mod/hub/strongswan.ts";
import { hubSwanctlConf } from "../../mod/hub/swanctl.ts";
import { dnsmasqConf } from "../../mod/hub/dnsmasq.ts";
import { keaConf } from "../../mod/hub/kea.ts";
import { keepalivedConf, leaseKeepalivedConf } from "../../mod/hub/keepalived.ts";
import { daemonArgv, daemonPaths } from "../../mod/ipsec/daemon.ts";
import { programPath } from "../../mod/exec.ts";
import { requiredPlugins } from "../../mod/plugin/status.ts";
import {
  describeRule,
  expectedGuardRules,
  planTunnelGuard,
  planTunnelGuardRemoval,
} from "../../mod/ipsec/guard.ts";
import {
  childInstalled,
  classifyFailure,
  initiateMessages,
  virtualIpProblem,
} from "../../mod/ipsec/tunnel.ts";
import { decodeMessage, encodeMessage, encodePacket } from "../../mod/ipsec/vici.ts";
import { config } from "./helpers.ts";

const conf = validateNetConf(config());
const files = { viciSocket: "/var/lib/x/charon.vici", logFile: "/var/lib/x/charon.log" };

Deno.test("plugins: an explicit list, libipsec before netlink, nothing for EAP/TLS/X.509", () => {
  assert.equal(
    pluginList("userspace"),
    "random nonce openssl kdf socket-default kernel-libipsec kernel-netlink vici",
  );
  assert.equal(pluginList("kernel"), "random nonce openssl kdf socket-default kernel-netlink vici");
  for (const d of ["kernel", "userspace"] as const) {
    assert.doesNotMatch(pluginList(d), /eap|x509|pkcs|stroke|ldap|curl/);
  }
});

Deno.test("pod strongswan.conf: own socket and log, no autoload, IKE marked past the tunnel", () => {
  const text = podStrongswanConf("userspace", "eth0", files);
  assert.match(text, /load_modular = no/);
  assert.match(text, /socket = unix:\/\/\/var\/lib\/x\/charon\.vici/);
  assert.match(text, /path = \/var\/lib\/x\/charon\.log/);
  assert.match(text, /fwmark = 0x42/);
  assert.match(text, /fwmark = !0x42/);
  assert.doesNotMatch(text, /install_virtual_ip_on/);
  assert.match(podStrongswanConf("kernel", "net1", files), /install_virtual_ip_on = net1/);
});

Deno.test("pod connection: virtual IP requested, both subnets tunnelled, identity per attachment", () => {
  const hub = podConnection(conf, "eth0@cid").hub as Record<string, unknown>;
  assert.deepEqual(hub.remote_addrs, ["10.9.0.2"]);
  assert.deepEqual(hub.vips, ["0.0.0.0"]);
  assert.deepEqual(hub.local, { auth: "psk", id: "eth0@cid" });
  const child = (hub.children as Record<string, Record<string, unknown>>).hub;
  assert.deepEqual(child.remote_ts, ["10.173.0.0/16", "10.9.0.0/24"]);
  assert.equal(child.start_action, "none");
  assert.ok(!JSON.stringify(hub).includes("s3cret-psk"), "the PSK goes by load-shared only");
});

Deno.test("hub: keeps the first address, pools the rest", () => {
  assert.deepEqual(hubAddressing({ virtualSubnet: "10.173.0.0/16" }), {
    hubAddress: "10.173.0.1",
    first: "10.173.0.2",
    last: "10.173.255.254",
    netmask: "255.255.0.0",
    pool: "10.173.0.2-10.173.255.254",
  });
  assert.equal(
    hubAddressing({ virtualSubnet: "192.168.5.0/24" }).pool,
    "192.168.5.2-192.168.5.254",
  );
  // vpn.hubAddress the last usable address: the pool starts at the first.
  assert.deepEqual(
    hubAddressing({ virtualSubnet: "192.168.5.0/24", hubAddress: "192.168.5.254" }),
    {
      hubAddress: "192.168.5.254",
      first: "192.168.5.1",
      last: "192.168.5.253",
      netmask: "255.255.255.0",
      pool: "192.168.5.1-192.168.5.253",
    },
  );
});

Deno.test("hub swanctl.conf: pool, selectors, DPD, unique ids, PSK only as hex", () => {
  const psk = new Secret('we"ird\\psk');
  const text = hubSwanctlConf(conf, psk, {});
  assert.match(text, /pools = pods/);
  assert.match(text, /addrs = 10\.173\.0\.2-10\.173\.255\.254/);
  assert.match(text, /local_ts = 10\.173\.0\.0\/16,10\.9\.0\.0\/24/);
  assert.match(text, /dpd_delay = 30s/);
  assert.match(text, /unique = replace/);
  assert.match(text, /id = 10\.9\.0\.2/);
  assert.match(text, /secret = 0x7765226972645c70736b/);
  assert.ok(!text.includes(psk.reveal()));
  const ss = hubStrongswanConf({ datapath: "userspace" }, files);
  assert.match(ss, /kernel-libipsec kernel-netlink vici\n/);
  assert.match(ss, /allow_peer_ts = yes/);
  assert.match(ss, /retransmit_tries = 3/, "a vanished pod is given up on within a minute");
  assert.match(ss, /block_threshold = 250/, "a node's pods share its address: no limit of 5");
  assert.match(
    ss,
    /cookie_threshold_ip = 200/,
    "no cookie round (and its lost answers) in a burst",
  );
  assert.doesNotMatch(ss, /dhcp/);
});

Deno.test("hub with a lease server: pools = dhcp, the dhcp plugin relays per identity", () => {
  const text = hubSwanctlConf(conf, new Secret("k"), { leaseServer: "10.9.0.5" });
  assert.match(text, /pools = dhcp/);
  assert.doesNotMatch(text, /addrs =/, "no in-memory pool");
  const ss = hubStrongswanConf({ datapath: "userspace", leaseServer: "10.9.0.5" }, files);
  assert.match(ss, /load = .* vici dhcp\n/);
  assert.match(
    ss,
    /dhcp \{\n\s+server = 10\.9\.0\.5\n\s+identity_lease = yes\n\s+use_server_port = yes/,
  );
});

Deno.test("lease server: dnsmasq hands out the pool forever, without pinging, no DNS", () => {
  const text = dnsmasqConf(conf, "/var/lib/x/leases");
  assert.match(text, /^port=0$/m);
  assert.match(text, /^dhcp-range=10\.173\.0\.2,10\.173\.255\.254,255\.255\.0\.0,infinite$/m);
  assert.match(text, /^no-ping$/m);
  assert.match(text, /^dhcp-leasefile=\/var\/lib\/x\/leases$/m);
  assert.throws(() => dnsmasqConf(conf, "/x\ndhcp-script=/bin/sh"), /refusing/);
});

Deno.test("pod connection: dead peer detection, and it starts over for ever", () => {
  const hub = podConnection(conf, "eth0@cid").hub as Record<string, unknown>;
  assert.equal(hub.dpd_delay, "5s");
  assert.equal(hub.keyingtries, "0");
  const child = (hub.children as Record<string, Record<string, unknown>>).hub;
  assert.equal(child.dpd_action, "restart");
  assert.equal(child.close_action, "restart");
  assert.match(podStrongswanConf("userspace", "eth0", files), /retransmit_tries = 3/);
});

Deno.test("daemon: entered in the pod's netns with a private /run; paths passed, never spliced", () => {
  const paths = daemonPaths("/var/lib/cni/strongswan/c.eth0");
  const argv = daemonArgv("/run/netns/p", paths, "bind");
  // What busybox's applets exec goes by full path, busybox included (no PATH search each time).
  assert.deepEqual(argv.slice(0, 7), [
    "busybox",
    "nsenter",
    "--net=/run/netns/p",
    "-F",
    "--",
    programPath("busybox"),
    "unshare",
  ]);
  assert.ok(programPath("busybox").startsWith("/"));
  assert.ok(argv.includes("slave"));
  assert.deepEqual(argv.slice(-2), [paths.runDir, "/usr/lib/ipsec/charon"]);
  const script = argv[argv.indexOf("-c") + 1];
  assert.ok(!script.includes(paths.runDir));
  // A pod's: a fresh tmpfs, nothing of the directory's.
  const pod = daemonArgv("/run/netns/p", paths, "tmpfs");
  assert.deepEqual(pod.slice(-2), ["strongswan-cni", "/usr/lib/ipsec/charon"]);
  assert.match(pod[pod.indexOf("-c") + 1], /mount -t tmpfs .* \/run && exec "\$1"$/);
  assert.ok(!pod.includes(paths.runDir));
});

Deno.test("vici: messages round-trip (sections, lists, key/values)", () => {
  const msg = {
    hub: {
      version: "2",
      remote_addrs: ["10.9.0.2"],
      local: { auth: "psk" },
      children: { hub: { remote_ts: ["a", "b"] } },
    },
    empty: [],
    "key-ü": "välue",
  };
  assert.deepEqual(decodeMessage(encodeMessage(msg)), msg);
});

Deno.test("vici: packets are length-prefixed with type and name", () => {
  const p = encodePacket(0, "stats");
  assert.deepEqual(Array.from(p), [0, 0, 0, 7, 0, 5, ...new TextEncoder().encode("stats")]);
  assert.throws(() => decodeMessage(new Uint8Array([3, 5])), /truncated/);
  assert.throws(() => decodeMessage(new Uint8Array([9])), /unknown element/);
});

Deno.test("tunnel failures: each cause gets its own message and code", () => {
  const vpn = { serverIP: "10.9.0.2", serverIdentity: "10.9.0.2", timeout: 5 };
  const c = (log: string[], errmsg = "establishing CHILD_SA 'hub' failed") =>
    classifyFailure(errmsg, log, vpn);
  const auth = c(["received AUTHENTICATION_FAILED notify error"]);
  assert.equal(auth.code, Code.TunnelRejected);
  assert.match(
    auth.message,
    /pre-shared key or the identity asked for.*vpn\.serverIdentity \(10\.9\.0\.2\)/,
  );
  const identity = c(["constraint check failed: identity '10.9.0.2' required"]);
  assert.match(identity.message, /vpn\.serverIdentity/);
  assert.equal(c(["received NO_PROPOSAL_CHOSEN notify error"]).code, Code.TunnelRejected);
  assert.match(c(["received TS_UNACCEPTABLE notify, no CHILD_SA built"]).message, /virtualSubnet/);
  assert.match(c(["received INTERNAL_ADDRESS_FAILURE notify"]).message, /pool/);
  assert.equal(
    c(["installing new virtual IP 10.173.0.2"], "timeout").code,
    Code.TryAgainLater,
    "an installed virtual IP is no pool problem",
  );
  const down = c(["sending packet: from 172.17.0.2[500] to 10.9.0.2[500]"], "initiate timed out");
  assert.equal(down.code, Code.TryAgainLater);
  assert.match(down.message, /did not complete IKE within 5 s/);
});

Deno.test("tunnel: a failure is read from the daemon's log, from its last initiate on", () => {
  const log = [
    "2026-11-28 08:26:18 00[DMN] Starting IKE charon daemon (strongSwan 5.9.8)",
    "2026-11-28 08:26:18 07[CFG] vici initiate CHILD_SA 'hub'",
    "2026-11-28 08:26:18 12[IKE] giving up after 5 retransmits",
    "2026-11-28 08:26:19 07[CFG] vici initiate CHILD_SA 'hub'",
    "2026-11-28 08:26:19 12[IKE] initiating IKE_SA hub[2] to 10.9.0.2",
    "2026-11-28 08:26:19 16[IKE] received AUTHENTICATION_FAILED notify error",
    "",
  ].join("\n");
  assert.deepEqual(initiateMessages(log), [
    "initiating IKE_SA hub[2] to 10.9.0.2",
    "received AUTHENTICATION_FAILED notify error",
  ]);
  // No initiate logged (another wording): every message counts.
  assert.deepEqual(initiateMessages("2026-11-28 08:26:18 12[IKE] a b\nnot a log line\n"), ["a b"]);
  assert.deepEqual(initiateMessages(""), []);
});

Deno.test("tunnel: a CHILD_SA counts only once INSTALLED", () => {
  assert.ok(childInstalled({ "child-sas": { "hub-1": { state: "INSTALLED" } } }));
  assert.ok(!childInstalled({ "child-sas": { "hub-1": { state: "INSTALLING" } } }));
  assert.ok(!childInstalled({}));
});

Deno.test("guard: rules refuse the tunnelled subnets whatever the routes, charon's packets pass", () => {
  const guard = planTunnelGuard(conf, "eth0", "172.17.0.1");
  assert.deepEqual(guard.lines, [
    "rule add pref 221 fwmark 0x42 lookup main",
    "rule add pref 222 to 10.173.0.0/16 unreachable",
    "rule add pref 222 to 10.9.0.0/24 unreachable",
    "route replace 10.9.0.2/32 via 172.17.0.1 dev eth0",
  ]);
  assert.deepEqual(guard.routes, [{ dst: "10.9.0.2/32", gw: "172.17.0.1" }]);
  assert.equal(planTunnelGuard(conf, "eth0", undefined).lines.length, 3);
  assert.deepEqual(planTunnelGuardRemoval(conf), [
    "rule del pref 221 fwmark 0x42 lookup main",
    "rule del pref 222 to 10.173.0.0/16 unreachable",
    "rule del pref 222 to 10.9.0.0/24 unreachable",
  ]);
  // What `ip -j rule show` prints is matched against what CHECK expects.
  const shown = [
    { priority: 221, src: "all", fwmark: "0x42", table: "main" },
    { priority: 222, src: "all", dst: "10.173.0.0", dstlen: 16, action: "unreachable" },
    { priority: 222, src: "all", dst: "10.9.0.0", dstlen: 24, action: "unreachable" },
  ].map((r) => `${r.priority} ${describeRule(r)}`);
  assert.deepEqual(shown, expectedGuardRules(conf).map((r) => `${r.priority} ${r.what}`));
});

Deno.test("virtual IP: only an IPv4 address inside virtualSubnet that the hub may hand out", () => {
  const vpn = { virtualSubnet: "10.173.0.0/16" };
  assert.equal(virtualIpProblem("10.173.0.2", vpn), undefined);
  // A hub configured by hand hands out the first address: nothing reserves it.
  assert.equal(virtualIpProblem("10.173.0.1", vpn), undefined);
  assert.match(virtualIpProblem("10.96.0.10", vpn)!, /outside vpn\.virtualSubnet/);
  assert.match(
    virtualIpProblem("10.173.0.1", { ...vpn, hubAddress: "10.173.0.1" })!,
    /hub's own address \(vpn\.hubAddress\)/,
  );
  assert.equal(virtualIpProblem("10.173.0.1", { ...vpn, hubAddress: "10.173.255.254" }), undefined);
  assert.match(virtualIpProblem("10.173.0.0", vpn)!, /network or broadcast/);
  assert.match(virtualIpProblem("10.173.255.255", vpn)!, /network or broadcast/);
  assert.match(virtualIpProblem("fd00::2", vpn)!, /not an IPv4 address/);
});

Deno.test("pod connection: the hub's identity is pinned", () => {
  const hub = podConnection(
    validateNetConf(config({ vpn: { serverIdentity: "hub.example.org" } })),
    "eth0@cid",
  ).hub as Record<string, unknown>;
  assert.deepEqual(hub.remote, { auth: "psk", id: "hub.example.org" });
});

Deno.test("strongswan.conf: a path that could inject settings is refused", () => {
  for (
    const bad of ["/tmp/x\n  load = stroke", "/tmp/x # y", "relative/path", "/a/../b", '/tmp/"q"']
  ) {
    assert.ok(pathProblem(bad), bad);
    assert.throws(() =>
      hubStrongswanConf({ datapath: "userspace" }, { viciSocket: "/run/x.vici", logFile: bad })
    );
  }
  assert.match(pathProblem(`/${"x".repeat(120)}`, true)!, /107 bytes/);
  assert.equal(pathProblem("/var/log/strongswan-hub.log"), undefined);
});

Deno.test("status: every plugin the daemon loads is checked, each with its Debian package", () => {
  const auto = requiredPlugins("auto");
  assert.deepEqual(auto.map((p) => p.plugin), pluginList("userspace").split(" "));
  const byName = Object.fromEntries(auto.map((p) => [p.plugin, p]));
  assert.equal(byName.vici.pkg, "strongswan-swanctl");
  assert.equal(byName.openssl.pkg, "libstrongswan-standard-plugins");
  assert.equal(byName["kernel-libipsec"].pkg, "libcharon-extra-plugins");
  assert.equal(byName.vici.file, "/usr/lib/ipsec/plugins/libstrongswan-vici.so");
  assert.ok(!requiredPlugins("kernel").some((p) => p.plugin === "kernel-libipsec"));
});

Deno.test("hub pair: keepalived moves serverIP, never takes it back, and keeps the lease route on the active hub", () => {
  const text = keepalivedConf(conf, { interface: "eth0", routerId: 51, priority: 150 }, "10.9.0.5");
  assert.match(text, /state BACKUP\n\s+nopreempt/);
  assert.match(text, /virtual_router_id 51\n\s+priority 150\n\s+advert_int 1/);
  assert.match(text, /virtual_ipaddress \{\n\s+10\.9\.0\.2\/32 dev eth0/);
  assert.match(text, /virtual_routes \{\n\s+10\.9\.0\.5\/32 dev eth0 src 10\.173\.0\.1/);
  assert.throws(() =>
    keepalivedConf(conf, { interface: "eth 0", routerId: 51, priority: 1 }, "10.9.0.5")
  );
  assert.throws(() =>
    keepalivedConf(conf, { interface: "eth0", routerId: 300, priority: 1 }, "10.9.0.5")
  );
});

Deno.test("Kea pair: HA hot-standby over its own listener, leases for ever, requests relayed by the hubs", () => {
  const doc = JSON.parse(keaConf(conf, {
    role: "primary",
    self: "10.9.0.5",
    peer: "10.9.0.6",
    interface: "lan0",
    leaseFile: "/var/lib/kea/x.csv",
    logOutput: "stdout",
  })).Dhcp4;
  assert.equal(doc["interfaces-config"]["dhcp-socket-type"], "raw");
  assert.equal(doc["valid-lifetime"], 4294967295);
  assert.deepEqual(doc.subnet4[0].pools, [{ pool: "10.173.0.2 - 10.173.255.254" }]);
  assert.deepEqual(doc.subnet4[0].relay, { "ip-addresses": ["10.173.0.1"] });
  const ha = doc["hooks-libraries"][1].parameters["high-availability"][0];
  assert.equal(ha.mode, "hot-standby");
  assert.equal(ha["multi-threading"]["http-dedicated-listener"], true);
  assert.deepEqual(ha.peers.map((p: { role: string; url: string }) => `${p.role} ${p.url}`), [
    "primary http://10.9.0.5:8005/",
    "standby http://10.9.0.6:8005/",
  ]);
  const vrrp = leaseKeepalivedConf(
    conf,
    { interface: "lan0", routerId: 52, priority: 150 },
    "10.9.0.7",
    "/run/kea/kea.pid",
  );
  assert.match(vrrp, /preempt_delay 10/, "the address goes back to Kea's primary");
  assert.doesNotMatch(vrrp, /nopreempt/);
  assert.match(vrrp, /notify_master "\/bin\/sh -c 'kill -HUP \$\(cat \/run\/kea\/kea\.pid\)'"/);
  assert.throws(() =>
    leaseKeepalivedConf(
      conf,
      { interface: "lan0", routerId: 52, priority: 1 },
      "10.9.0.7",
      "/x'; rm -rf /",
    )
  );
});
