/**
 * The bridge half against the real host-local, and against the Go reference
 * bridge plugin for parity. Each test makes its own lab and removes it.
 */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { ExecError, inNetns, run } from "../../mod/exec.ts";
import { batchFailures } from "../../mod/net/ipbatch.ts";
import { configurePod } from "../../mod/net/links.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import { KeptIp, NODE_IP_ARGV } from "../../mod/net/nodeip.ts";
import { type Lab, OUTSIDE_ADDRESS, SERVER_IP } from "../../lab/lab.ts";
import { callPlugin, REFERENCE_PLUGINS } from "../../lab/plugin.ts";
import {
  assertCniError,
  assertNothingLeft,
  assertOk,
  bridgeIpOf,
  labTest,
  leaseOf,
  vipOf,
} from "./support.ts";

async function ipJson(netns: string, ...args: string[]): Promise<Record<string, unknown>[]> {
  return JSON.parse((await run(["ip", "-n", netns, "-j", "-d", ...args])).stdout);
}

interface Observed {
  bridgeAddrs: string[];
  bridgeMtu: number;
  podAddrs: string[];
  podMtu: number;
  podRoutes: string[];
  hairpin: boolean;
  vethMtu: number;
}

/** What a person would look at after ADD, on the node and in the pod. */
async function observe(node: string, podNs: string): Promise<Observed> {
  const [bridge] = await ipJson(node, "addr", "show", "dev", "docker0");
  const [pod] = await ipJson(podNs, "addr", "show", "dev", "eth0");
  const [veth] = await ipJson(node, "link", "show", "master", "docker0");
  const routes = await ipJson(podNs, "route", "show");
  const v4 = (l: Record<string, unknown>) =>
    (l.addr_info as { family: string; local: string; prefixlen: number }[])
      .filter((a) => a.family === "inet" && a.prefixlen < 32)
      .map((a) => `${a.local}/${a.prefixlen}`);
  return {
    bridgeAddrs: v4(bridge),
    bridgeMtu: bridge.mtu as number,
    podAddrs: v4(pod),
    podMtu: pod.mtu as number,
    // Leaving out what only the IPsec half adds: the fail-closed guard's routes.
    podRoutes: routes
      .filter((r) => r.type !== "unreachable" && r.dst !== SERVER_IP)
      .map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.dev}`).sort(),
    hairpin: (veth.linkinfo as { info_slave_data: { hairpin: boolean } }).info_slave_data.hairpin,
    vethMtu: veth.mtu as number,
  };
}

/** Counts ICMP packets reaching the outside address from a source, in the hub's netns. */
async function outsidePackets(lab: Lab, source: string): Promise<number> {
  const out =
    (await run(["ip", "netns", "exec", lab.hubNetns, "iptables", "-nvxL", "INPUT"])).stdout;
  const line = out.split("\n").find((l) => l.includes(source) && l.includes(OUTSIDE_ADDRESS));
  return line ? Number(line.trim().split(/\s+/)[0]) : 0;
}

labTest(
  "bridge: same observable state as the reference bridge plugin, masquerade included",
  { nodes: 2 },
  async (lab) => {
    const shared = { mtu: 1400, hairpinMode: true, isDefaultGateway: true, ipMasq: true };
    const refPod = await lab.pod(1, "ref");
    const ourPod = await lab.pod(2, "ours");
    const { vpn: _vpn, ...refConfig } = lab.config(1, { ...shared, type: "bridge" });
    const reference = {
      containerId: refPod.containerId,
      netns: refPod.netns,
      ifname: "eth0",
      path: [REFERENCE_PLUGINS],
      config: refConfig,
      nodeNetns: lab.nodeNetns(1),
      type: "bridge",
    };
    assertOk(await callPlugin({ ...reference, command: "ADD" }), "reference bridge");
    assertOk(await lab.add(ourPod, lab.config(2, shared)));

    const ref = await observe(lab.nodeNetns(1), refPod.netnsName);
    const ours = await observe(lab.nodeNetns(2), ourPod.netnsName);
    assert.deepEqual(ours, ref);
    assert.deepEqual(ours.bridgeAddrs, ["172.17.0.1/16"]);
    assert.equal(ours.hairpin, true);
    assert.equal(ours.podMtu, 1400);

    // Masquerade: both pods reach an address outside the bridge subnet, seen from the node's address.
    for (const source of [lab.nodeAddress(1), lab.nodeAddress(2), "172.17.0.0/16"]) {
      const rule = ["-p", "icmp", "-s", source, "-d", OUTSIDE_ADDRESS];
      await run(["ip", "netns", "exec", lab.hubNetns, "iptables", "-A", "INPUT", ...rule]);
    }
    assert.ok(await lab.ping(refPod.netnsName, OUTSIDE_ADDRESS), "reference pod reaches outside");
    assert.ok(await lab.ping(ourPod.netnsName, OUTSIDE_ADDRESS), "our pod reaches outside");
    assert.ok((await outsidePackets(lab, lab.nodeAddress(1))) > 0);
    assert.ok((await outsidePackets(lab, lab.nodeAddress(2))) > 0);
    assert.equal(
      await outsidePackets(lab, "172.17.0.0/16"),
      0,
      "pod addresses never leave the node",
    );

    assertOk(await callPlugin({ ...reference, command: "DEL" }), "reference bridge DEL");
    assertOk(await lab.del(ourPod, lab.config(2, shared)));
    await assertNothingLeft(lab, ourPod);
  },
);

labTest(
  "bridge: two pods on one bridge reach each other at their bridge addresses",
  { nodes: 1 },
  async (lab) => {
    const a = await lab.pod(1, "a");
    const b = await lab.pod(1, "b");
    const ra = await lab.add(a);
    const rb = await lab.add(b);
    assertOk(ra);
    assertOk(rb);
    assert.ok(await lab.ping(a.netnsName, bridgeIpOf(rb).split("/")[0]));
    assert.ok(await lab.ping(b.netnsName, bridgeIpOf(ra).split("/")[0]));
  },
);

labTest(
  "bridge: 10 ADDs at once all succeed, distinct addresses, one bridge",
  { nodes: 1 },
  async (lab) => {
    const pods = await Promise.all(Array.from({ length: 10 }, (_, i) => lab.pod(1, `p${i}`)));
    const outs = await Promise.all(pods.map((p) => lab.add(p)));
    outs.forEach((o) => assertOk(o));
    assert.equal(new Set(outs.map(bridgeIpOf)).size, 10, "bridge addresses are distinct");
    assert.equal(new Set(outs.map(vipOf)).size, 10, "virtual IPs are distinct");
    const bridges = await ipJson(lab.nodeNetns(1), "link", "show", "type", "bridge");
    assert.deepEqual(bridges.map((b) => b.ifname), ["docker0"]);
    const ports = await ipJson(lab.nodeNetns(1), "link", "show", "master", "docker0");
    assert.equal(ports.length, 10);
    const dels = await Promise.all(pods.map((p) => lab.del(p)));
    dels.forEach((o) => assertOk(o));
    for (const p of pods) await assertNothingLeft(lab, p);
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest("bridge: each failure is its CNI error and leaves nothing", { nodes: 1 }, async (lab) => {
  const cases: [
    string,
    number,
    (pod: Awaited<ReturnType<Lab["pod"]>>) => Promise<Record<string, unknown>>,
  ][] = [
    [
      "IPAM plugin missing",
      Code.IpamFailed,
      () => Promise.resolve(lab.config(1, { ipam: { type: "no-such-ipam" } })),
    ],
    [
      "IPAM plugin failing",
      Code.IpamFailed,
      () => Promise.resolve(lab.config(1, { ipam: { subnet: "not-a-subnet" } })),
    ],
    // host-local really leases the address: the rollback must release it.
    [
      "IPAM hands out IPv6",
      Code.InvalidConfig,
      () => Promise.resolve(lab.config(1, { ipam: { subnet: "fd00:173::/64" } })),
    ],
    ["netns path wrong", Code.UnknownContainer, (pod) => {
      pod.netns = "/run/netns/does-not-exist";
      return Promise.resolve(lab.config(1));
    }],
    ["interface name too long", Code.InvalidEnv, (pod) => {
      pod.ifname = "much-too-long-ifname";
      return Promise.resolve(lab.config(1));
    }],
    ["bridge name taken by a non-bridge", Code.LinkFailed, async () => {
      await run([
        "ip",
        "-n",
        lab.nodeNetns(1),
        "link",
        "add",
        "clash0",
        "type",
        "veth",
        "peer",
        "clash1",
      ]);
      return lab.config(1, { bridge: "clash0" });
    }],
  ];
  for (const [i, [what, code, prepare]] of cases.entries()) {
    const pod = await lab.pod(1, `fail${i}`);
    const config = await prepare(pod);
    const out = await lab.add(pod, config);
    const err = assertCniError(out, code);
    assert.ok(err.msg.length > 10, `${what}: message says something`);
    await assertNothingLeft(lab, pod);
  }
  assert.equal(await lab.hubSaCount(), 0);
});

labTest(
  "bridge: DEL twice, DEL without ADD, DEL after the netns was deleted all succeed",
  { nodes: 1 },
  async (lab) => {
    const a = await lab.pod(1, "a");
    assertOk(await lab.add(a));
    assert.ok(await leaseOf(lab, a), "ADD took a lease");
    assertOk(await lab.del(a));
    assertOk(await lab.del(a), "second DEL");
    await assertNothingLeft(lab, a);
    // A runtime may attach the same container again (podman network connect).
    assertOk(await lab.add(a), "ADD again into the same netns");
    assertOk(await lab.del(a));

    const never = await lab.pod(1, "never");
    assertOk(await lab.del(never), "DEL without ADD");

    const gone = await lab.pod(1, "gone");
    assertOk(await lab.add(gone));
    await lab.removePodNetns(gone);
    assertOk(await lab.del(gone), "DEL after the netns vanished");
    await assertNothingLeft(lab, gone);
    assertOk(await lab.del({ ...gone, netns: "" }), "DEL with no CNI_NETNS at all");
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest(
  "bridge: CHECK passes after ADD and names what is missing after damage",
  { nodes: 1 },
  async (lab) => {
    const a = await lab.pod(1, "a");
    const added = await lab.add(a);
    assertOk(added);
    const withPrev = { ...lab.config(1), prevResult: added.json };
    assertOk(await lab.exec(a, "CHECK", withPrev), "CHECK");
    await run(["ip", "-n", a.netnsName, "route", "del", "default"]);
    const err = assertCniError(await lab.exec(a, "CHECK", withPrev), Code.CheckFailed);
    assert.match(err.msg, /route to 0\.0\.0\.0\/0 is missing/);
    const names = await attachmentNames(a.containerId, a.ifname);
    await run(["ip", "-n", lab.nodeNetns(1), "link", "set", names.hostVeth, "nomaster"]);
    await run(["ip", "-n", a.netnsName, "route", "add", "default", "via", "172.17.0.1"]);
    const err2 = assertCniError(await lab.exec(a, "CHECK", withPrev), Code.CheckFailed);
    assert.match(err2.msg, /not on bridge docker0/);
  },
);

labTest(
  "bridge: ADD and DEL work when the runtime's PATH lacks the sbin directories",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "path");
    const call = {
      containerId: pod.containerId,
      netns: pod.netns,
      ifname: pod.ifname,
      path: lab.cniPath,
      config: lab.config(1),
      nodeNetns: lab.nodeNetns(1),
      processPath: "/usr/bin:/bin",
    };
    assertOk(await callPlugin({ ...call, command: "ADD" }), "ADD");
    assertOk(await callPlugin({ ...call, command: "DEL" }), "DEL");
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "links: one ip in the pod runs its lines, says when, then takes the later line or just ends",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "sync");
    const addresses = async () =>
      ((await ipJson(pod.netnsName, "addr", "show", "dev", "d0"))[0].addr_info as {
        local: string;
      }[]).map((a) => a.local);
    const lines = [
      "link add d0 type veth peer name d1",
      "addr add 10.1.0.2/24 dev d0",
      "link set dev d0 up",
      "route add 10.2.0.0/16 dev d0",
    ];
    const later = Promise.withResolvers<string>();
    const batch = configurePod(pod.netns, "d0", lines, new Set(), later.promise, 10_000);
    await batch.configured;
    // The lines have run while ip still waits for its last one.
    assert.deepEqual(await addresses(), ["10.1.0.2"]);
    later.resolve("addr add 10.1.0.3/32 dev d0");
    await batch.done;
    assert.deepEqual(await addresses(), ["10.1.0.2", "10.1.0.3"]);

    // A line that fails is named; the ip waiting for its later line ends once that is refused.
    const refused = Promise.withResolvers<string>();
    const failing = configurePod(pod.netns, "d0", [lines[3]], new Set(), refused.promise, 10_000);
    await assert.rejects(failing.configured, /"route add 10\.2\.0\.0\/16 dev d0" failed: .*exists/);
    refused.reject(new Error("IKE failed"));
    await assert.rejects(failing.done, /"route add 10\.2\.0\.0\/16 dev d0" failed/);
    // Unless it may exist; a later line that fails is named too.
    const again = configurePod(
      pod.netns,
      "d0",
      [lines[3]],
      new Set([0]),
      Promise.resolve("addr add 10.1.0.3/32 dev d0"),
      10_000,
    );
    await again.configured;
    await assert.rejects(again.done, /"addr add 10\.1\.0\.3\/32 dev d0" failed: .*assigned/);
    // An ip that cannot enter the namespace ran nothing: no success without the sync line.
    const nowhere = configurePod(
      `/run/netns/${pod.netnsName}-gone`,
      "d0",
      [lines[2]],
      new Set(),
      Promise.resolve(""),
      10_000,
    );
    await assert.rejects(nowhere.configured, /cannot configure d0/);
    await assert.rejects(nowhere.done, /cannot configure d0/);
    assert.equal(
      (await run(["pgrep", "-f", "-force -batch"]).catch(() => ({ stdout: "" }))).stdout,
      "",
    );
  },
);

labTest(
  "links: the agent's kept ip takes node-side batches as they come; a failing one ends it, the ones after run on a new ip",
  { nodes: 1 },
  async (lab) => {
    const ns = (await lab.pod(1, "kept")).netnsName;
    const kept = new KeptIp(inNetns(`/run/netns/${ns}`, NODE_IP_ARGV));
    const ip = (...args: string[]) => run(["ip", "-n", ns, ...args]);
    // Only the ips in this test's namespace: an agent in a test running alongside keeps its own.
    const nsInode = Deno.statSync(`/run/netns/${ns}`).ino;
    const inThisNetns = (pid: string) => {
      try {
        return Deno.statSync(`/proc/${pid}/ns/net`).ino === nsInode;
      } catch {
        return false;
      }
    };
    const ipPids = async () =>
      (await run(["pgrep", "-f", "ip -d -j -batch"]).catch(() => ({ stdout: "" }))).stdout.trim()
        .split("\n").filter((l) => l && inThisNetns(l));
    const shown = (out: { stdout: string }) => JSON.parse(out.stdout)[0].ifname;
    const index = async (name: string) =>
      String((await ipJson(ns, "link", "show", "dev", name))[0].ifindex);
    const enslave = (veth: string, br: string, id: string) =>
      kept.run([`link set dev ${veth} master ${br}`, `addr show dev ${br}`], 5000, { [br]: id });
    try {
      await ip("link", "add", "kb", "type", "bridge");
      await ip("link", "add", "k0", "type", "veth", "peer", "name", "k1");
      assert.equal(shown(await enslave("k0", "kb", await index("kb"))), "kb");
      const first = await ipPids();
      assert.equal(first.length, 1);
      // A link made by another process after the kept ip started is found.
      await ip("link", "add", "k2", "type", "veth", "peer", "name", "k3");
      assert.equal(shown(await enslave("k2", "kb", await index("kb"))), "kb");
      assert.deepEqual(await ipPids(), first, "one ip for all of them");
      // Batches at once go to it without waiting for each other.
      const both = await Promise.all(
        ["k0", "k1"].map((d) => kept.run([`link set dev ${d} up`, `link show dev ${d}`], 5000)),
      );
      assert.deepEqual(both.map(shown), ["k0", "k1"]);
      // The bridge deleted and made again: the ip that remembers the old one is not used.
      await ip("link", "del", "kb");
      await ip("link", "add", "kx", "type", "veth", "peer", "name", "ky");
      await ip("link", "add", "kb", "type", "bridge");
      assert.equal(shown(await enslave("k1", "kb", await index("kb"))), "kb");
      const renewed = await ipPids();
      assert.notDeepEqual(renewed, first);
      assert.equal((await ipJson(ns, "link", "show", "dev", "k1"))[0].master, "kb");
      // A failing line is named from the batch's own first line; the lines after it do not run.
      const failed = await kept.run(
        [
          "link set dev k0 down",
          "link set dev nosuch up",
          "link set dev k1 down",
          "link show dev k1",
        ],
        5000,
      ).then(() => undefined, (err) => err);
      assert.ok(failed instanceof ExecError);
      assert.deepEqual(batchFailures(failed.stderr).map((f) => f.line), [1]);
      assert.match(failed.stderr, /Cannot find device "nosuch"/);
      const k1 = await ipJson(ns, "link", "show", "dev", "k1");
      assert.ok((k1[0].flags as string[]).includes("UP"), "the line after the failure did not run");
      // The next batch gets a new ip.
      assert.equal(shown(await kept.run(["link show dev k0"], 5000)), "k0");
      const third = await ipPids();
      assert.notDeepEqual(third, renewed);
      // Written together, the batches after a failing one never ran on its ip: they run on a new one.
      const [bad, good, next] = await Promise.allSettled([
        kept.run(["link set dev k0 up", "link set dev nosuch up", "link show dev k0"], 5000),
        kept.run(["link set dev k1 down", "link show dev k1"], 5000),
        kept.run(["link show dev k0"], 5000),
      ]);
      assert.equal(bad.status, "rejected");
      const badErr = (bad as PromiseRejectedResult).reason as ExecError;
      assert.deepEqual(batchFailures(badErr.stderr).map((f) => f.line), [1]);
      assert.equal(good.status === "fulfilled" && shown(good.value), "k1");
      assert.equal(next.status === "fulfilled" && shown(next.value), "k0");
      const k1down = await ipJson(ns, "link", "show", "dev", "k1");
      assert.ok(
        !(k1down[0].flags as string[]).includes("UP"),
        "the batch after the failing one ran",
      );
      assert.notDeepEqual(await ipPids(), third);
      // A batch without a show to answer it is refused: it would take the next batch's answer.
      await assert.rejects(kept.run(["link set dev k0 up"], 5000), /must end in a show/);
      // An ip that hangs: the batch times out, its ip is ended, and the next batch gets a new one.
      const [hung] = await ipPids();
      await run(["kill", "-STOP", hung]);
      await assert.rejects(kept.run(["link show dev k0"], 300), /timed out after 300 ms/);
      assert.equal(shown(await kept.run(["link show dev k1"], 5000)), "k1");
      assert.ok(!(await ipPids()).includes(hung), "the hung ip was ended");
    } finally {
      await kept.close();
    }
    assert.deepEqual(await ipPids(), [], "no ip left");
  },
);
