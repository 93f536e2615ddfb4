/**
 * The independent review's findings, each reproduced for real: a hostile or
 * hung IPAM plugin, names that smuggle syntax, a hub that lies, routes that
 * would beat the fail-closed guard, a stopped daemon, a state directory
 * without its record. Each asserts the clear error and that nothing is left.
 */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { run, tryRun } from "../../mod/exec.ts";
import { DAEMON_USER, uidOf } from "../../mod/ipsec/daemon.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import { SERVER_IP } from "../../lab/lab.ts";
import {
  assertCniError,
  assertNothingLeft,
  assertOk,
  daemonsOf,
  labTest,
  processGone,
  vipOf,
  withPskFile,
} from "./support.ts";

/** The command to run as a pod in its netns. */
function inPod(netnsName: string, ...argv: string[]): string[] {
  return ["ip", "netns", "exec", netnsName, ...argv];
}

labTest(
  "hardening: IPAM output that smuggles ip -batch syntax is refused (100), runs nothing, leaves nothing",
  { nodes: 1 },
  async (lab) => {
    const marker = `${lab.dir}/pwned`;
    const dst = `10.99.0.0/16 dev eth0\nnetns exec x /bin/sh -c "touch ${marker}"\n#`;
    const answer = JSON.stringify({
      cniVersion: "1.0.0",
      ips: [{ address: "172.17.0.9/16", gateway: "172.17.0.1" }],
      routes: [{ dst }],
    });
    await lab.installScript(
      "evil-ipam",
      `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && printf '%s' '${answer}'\nexit 0\n`,
    );
    const pod = await lab.pod(1, "evil");
    const out = await lab.add(pod, lab.config(1, { ipam: { type: "evil-ipam" } }));
    const err = assertCniError(out, Code.IpamFailed);
    assert.match(err.msg, /routes\[0\]\.dst .* is not an IP address with a prefix/);
    await assert.rejects(() => Deno.stat(marker), "no command ran");
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "hardening: a hung IPAM plugin that ignores SIGTERM and forks is killed at ipamTimeout; ADD fails (100) and leaves nothing",
  { nodes: 1 },
  async (lab) => {
    const pids = `${lab.dir}/ipam-pids`;
    // It ignores SIGTERM and leaves a child holding its stdout, on ADD and on DEL.
    await lab.installScript(
      "hung-ipam",
      `#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho "$$ $!" >> ${pids}\nsleep 60\n`,
    );
    const pod = await lab.pod(1, "hung");
    const started = performance.now();
    const out = await lab.add(pod, lab.config(1, { ipam: { type: "hung-ipam" }, ipamTimeout: 1 }));
    const took = performance.now() - started;
    const err = assertCniError(out, Code.IpamFailed);
    assert.match(err.msg, /IPAM plugin "hung-ipam" failed on ADD: .*timed out after 1000 ms/);
    // ADD's IPAM call and its rollback's IPAM DEL, each bounded: nowhere near the plugin's 60 s.
    assert.ok(took < 15_000, `ADD took ${took} ms`);
    for (const pid of (await Deno.readTextFile(pids)).split(/\s+/).filter((p) => p)) {
      assert.ok(processGone(Number(pid)), `IPAM process ${pid} was left running`);
    }
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "hardening: an interface name with syntax in it is code 4 and changes nothing",
  { nodes: 1 },
  async (lab) => {
    for (const ifname of ['"e""netns"x#', "e#1"]) {
      const pod = await lab.pod(1, `bad${ifname.length}`);
      pod.ifname = ifname;
      const err = assertCniError(await lab.add(pod), Code.InvalidEnv);
      assert.match(err.msg, /CNI_IFNAME .* may hold only letters, digits/);
      const links = (await run(["ip", "-n", lab.nodeNetns(1), "-o", "link", "show"])).stdout;
      assert.doesNotMatch(links, /veth/, "no veth was made");
      const inPodLinks = (await run(["ip", "-n", pod.netnsName, "-o", "link", "show"])).stdout;
      assert.equal(inPodLinks.trim().split("\n").length, 1, "only lo in the pod");
    }
  },
);

labTest(
  "hardening: a 64-hex container ID with a 15-character interface name works (vici socket path fits)",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "long", "abcdefghijklmno");
    pod.containerId = "a".repeat(32) + crypto.randomUUID().replaceAll("-", "");
    assert.equal(pod.containerId.length, 64);
    const out = await lab.add(pod);
    assertOk(out);
    assert.match(vipOf(out), /^10\.173\./);
    assertOk(await lab.del(pod));
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "hardening: a virtual IP outside virtualSubnet is refused (104) and rolled back",
  {
    nodes: 1,
    hubSwanctl: (text) => text.replace(/addrs = .*/, "addrs = 10.96.0.10-10.96.0.20"),
  },
  async (lab) => {
    const pod = await lab.pod(1, "vip");
    const err = assertCniError(await lab.add(pod), Code.TunnelRejected);
    assert.match(
      err.msg,
      /assigned virtual IP "10\.96\.0\.10", which lies outside vpn\.virtualSubnet/,
    );
    await assertNothingLeft(lab, pod);
    assert.equal(await lab.hubSaCount(), 0, "the hub heard the DELETE");
  },
);

labTest(
  "hardening: a hub that is not vpn.serverIdentity is refused (104), the message names both causes",
  { nodes: 1, hubSwanctl: (text) => text.replace(`id = ${SERVER_IP}`, "id = impostor.example") },
  async (lab) => {
    const pod = await lab.pod(1, "imp");
    const err = assertCniError(await lab.add(pod), Code.TunnelRejected);
    assert.match(err.msg, /vpn\.serverIdentity \(10\.9\.0\.2\) must be the hub's own identity/);
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "hardening: fails closed even against a more specific IPAM route into hostSubnet",
  { nodes: 2 },
  async (lab) => {
    // host-local hands the pod a /25 inside hostSubnet via the bridge: longer than any guard route.
    const config = lab.config(1, {
      ipam: { routes: [{ dst: "10.9.0.0/25" }, { dst: "0.0.0.0/0" }] },
    });
    const a = await lab.pod(1, "a");
    const b = await lab.pod(2, "b");
    const ra = await lab.add(a, config);
    assertOk(ra);
    const rb = await lab.add(b);
    assertOk(rb);
    const target = lab.nodeAddress(2);
    const before = (await run(inPod(a.netnsName, "ip", "route", "get", target))).stdout;
    assert.match(before, /dev ipsec0/, `with the tunnel up, ${target} goes through it: ${before}`);
    assert.ok(await lab.ping(a.netnsName, vipOf(rb)));

    const [pid] = await daemonsOf((await attachmentNames(a.containerId, a.ifname)).stateDir);
    Deno.kill(pid, "SIGKILL");
    for (
      let i = 0;
      i < 200 && await tryRun(inPod(a.netnsName, "ip", "link", "show", "ipsec0"));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const dst of [target, vipOf(rb)]) {
      const route = await run(inPod(a.netnsName, "ip", "route", "get", dst)).then(
        (r) => r.stdout,
        (e) => String(e),
      );
      assert.match(
        route,
        /Network is unreachable/,
        `${dst} must be refused, not sent in clear: ${route}`,
      );
    }
    assert.ok(!(await lab.ping(a.netnsName, target)));
    assertOk(await lab.del(a, config));
    await assertNothingLeft(lab, a);
  },
);

labTest(
  "hardening: CHECK against a stopped (SIGSTOP) daemon fails (105) within its deadline",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "stop");
    const out = await lab.add(pod);
    assertOk(out);
    const [pid] = await daemonsOf((await attachmentNames(pod.containerId, pod.ifname)).stateDir);
    Deno.kill(pid, "SIGSTOP");
    try {
      const started = performance.now();
      const check = await lab.exec(pod, "CHECK", { ...lab.config(1), prevResult: out.json });
      const took = performance.now() - started;
      const err = assertCniError(check, Code.CheckFailed);
      assert.match(err.msg, /does not answer/);
      assert.ok(took < 15_000, `CHECK took ${took} ms`);
    } finally {
      Deno.kill(pid, "SIGCONT");
    }
  },
);

labTest(
  "hardening: the daemon runs in its own directory as the strongswan user with CAP_NET_ADMIN only",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "caps");
    assertOk(await lab.add(pod));
    const { stateDir } = await attachmentNames(pod.containerId, pod.ifname);
    const [pid] = await daemonsOf(stateDir);
    assert.equal(await Deno.readLink(`/proc/${pid}/cwd`), stateDir);
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const uid = uidOf(DAEMON_USER);
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, "m"));
    // CAP_NET_ADMIN is bit 12.
    assert.match(status, /^CapEff:\s+0000000000001000$/m);
    assert.ok(await lab.ping(pod.netnsName, SERVER_IP), "the tunnel still works");
  },
);

labTest(
  "hardening: GC removes a state directory that lost its record: daemon, veth, rules",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "orphan");
    assertOk(await lab.add(pod));
    const names = await attachmentNames(pod.containerId, pod.ifname);
    await Deno.remove(`${names.stateDir}/state.json`);
    const gc = await lab.gc([]);
    assertOk(gc, "GC");
    assert.deepEqual(await daemonsOf(names.stateDir), [], "its daemon is gone");
    await assert.rejects(() => Deno.stat(names.stateDir), "its directory is gone");
    const links = (await run(["ip", "-n", lab.nodeNetns(1), "-o", "link", "show"])).stdout;
    assert.ok(!links.includes(names.hostVeth), "its veth is gone");
    assert.equal(await lab.hubSaCount(), 0, "the hub heard the DELETE");
  },
);

labTest(
  "hardening: pskFile is read only from its directory, never through a symlink, never when others can read it",
  { nodes: 1 },
  async (lab) => {
    await withPskFile("dummy1234\n", 0o600, async (pskFile) => {
      const good = lab.config(1, { vpn: { PSK: undefined, pskFile } });
      const pod = await lab.pod(1, "psk");
      assertOk(await lab.add(pod, good));
      assertOk(await lab.del(pod, good));

      const link = `${pskFile}.link`;
      await Deno.symlink(pskFile, link);
      try {
        const viaLink = await lab.add(
          await lab.pod(1, "link"),
          lab.config(1, { vpn: { PSK: undefined, pskFile: link } }),
        );
        assert.match(assertCniError(viaLink, Code.InvalidConfig).msg, /is a symlink/);
      } finally {
        await Deno.remove(link);
      }
      await Deno.chmod(pskFile, 0o644);
      const open = await lab.add(await lab.pod(1, "open"), good);
      assert.match(
        assertCniError(open, Code.InvalidConfig).msg,
        /readable by group or others \(mode 0644\)/,
      );
    });
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest(
  "hardening: an ADD that fails removes the node route it made",
  { nodes: 1, hub: false },
  async (lab) => {
    const pod = await lab.pod(1, "noroute");
    assertCniError(await lab.add(pod, lab.config(1, { vpn: { timeout: 1 } })), Code.TryAgainLater);
    const routes = (await run(["ip", "-n", lab.nodeNetns(1), "route", "show"])).stdout;
    assert.doesNotMatch(routes, /10\.173\.0\.0\/16/, routes);
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "hardening: a second strongswan network in the same pod shares the guard rules; DEL of one leaves the other's",
  { nodes: 1 },
  async (lab) => {
    const first = await lab.pod(1, "two");
    const second = { ...first, ifname: "net1" };
    // A secondary network (as Multus attaches one): its own bridge and range, no default route.
    const network2 = lab.config(1, {
      name: `${lab.network}b`,
      bridge: "docker1",
      isDefaultGateway: false,
      isGateway: true,
      ipam: { subnet: "172.18.0.0/16" },
    });
    assertOk(await lab.add(first));
    const out = await lab.add(second, network2);
    assertOk(out);
    const rules = async () => (await run(["ip", "-n", first.netnsName, "rule", "show"])).stdout;
    assertOk(await lab.del(first));
    assert.match(await rules(), /unreachable/, "the remaining attachment keeps its guard");
    assertOk(await lab.exec(second, "CHECK", { ...network2, prevResult: out.json }), "CHECK");
    assertOk(await lab.del(second, network2));
    assert.doesNotMatch(await rules(), /unreachable|0x42/, "the last DEL removes the guard");
    await assertNothingLeft(lab, first);
  },
);
