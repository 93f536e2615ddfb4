/**
 * The IPsec half end to end: real charon daemons (hub and pods), real
 * host-local, pods on two nodes with the same bridge subnet.
 */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { run, tryRun } from "../../mod/exec.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import type { Pod } from "../../lab/lab.ts";
import { callPlugin } from "../../lab/plugin.ts";
import {
  assertCniError,
  assertNothingLeft,
  assertOk,
  daemonsOf,
  labTest,
  vipOf,
} from "./support.ts";

labTest(
  "ipsec: pods on two nodes reach each other, the nodes and back, over the hub",
  { nodes: 2 },
  async (lab) => {
    const pods: Pod[] = [];
    for (const node of [1, 2]) {
      for (const i of [1, 2]) {
        pods.push(await lab.pod(node, `n${node}p${i}`));
      }
    }
    const outs = await Promise.all(pods.map((p) => lab.add(p)));
    outs.forEach((o) => assertOk(o));
    const vips = outs.map(vipOf);
    assert.equal(new Set(vips).size, 4, "every pod has its own virtual IP");
    // From the moment ADD returns, the pod's traffic to the tunnelled subnets takes the tunnel.
    for (const [i, p] of pods.entries()) {
      const other = vips[(i + 1) % vips.length];
      const route = await run(["ip", "-n", p.netnsName, "route", "get", other, "from", vips[i]]);
      assert.match(route.stdout, /dev ipsec0/, `${p.name}: ${route.stdout}`);
    }
    for (const out of outs) {
      const ips = out.json!.ips as { address: string; interface: number }[];
      assert.match(ips[0].address, /^10\.173\.\d+\.\d+\/32$/, "the virtual IP comes first");
      assert.equal(ips[0].interface, 2);
      assert.equal((out.json!.interfaces as { name: string }[])[2].name, "eth0");
    }
    // The virtual IP sits on the pod's eth0, not on the TUN device.
    const eth0 =
      (await run(["ip", "-n", pods[0].netnsName, "-o", "addr", "show", "dev", "eth0"])).stdout;
    assert.ok(eth0.includes(`${vips[0]}/32`));

    const matrix = await Promise.all(
      pods.flatMap((from) =>
        vips.map((to) => lab.ping(from.netnsName, to).then((ok) => ({ from: from.name, to, ok })))
      ),
    );
    assert.deepEqual(matrix.filter((m) => !m.ok), [], "every pod reaches every virtual IP");

    assert.ok(await lab.ping(lab.nodeNetns(1), vips[2]), "node 1 reaches a pod on node 2");
    assert.ok(await lab.ping(lab.nodeNetns(2), vips[0]), "node 2 reaches a pod on node 1");
    assert.ok(
      await lab.ping(pods[0].netnsName, lab.nodeAddress(2)),
      "a pod reaches the other node",
    );
    assert.ok(
      await lab.ping(pods[3].netnsName, vips[0], 1472, 3),
      "a 1500-byte packet crosses the tunnel",
    );

    for (const [i, p] of pods.entries()) {
      assertOk(
        await lab.exec(p, "CHECK", { ...lab.config(p.node), prevResult: outs[i].json }),
        "CHECK",
      );
    }
    assert.equal(await lab.hubSaCount(), 4);

    const dels = await Promise.all(pods.map((p) => lab.del(p)));
    dels.forEach((o) => assertOk(o));
    for (const p of pods) await assertNothingLeft(lab, p);
    assert.equal(await lab.hubSaCount(), 0, "the hub holds no SA after DEL");
  },
);

labTest("ipsec: CHECK fails when the daemon is gone", { nodes: 1 }, async (lab) => {
  const pod = await lab.pod(1, "a");
  const out = await lab.add(pod);
  assertOk(out);
  const names = await attachmentNames(pod.containerId, pod.ifname);
  const [pid] = await daemonsOf(names.stateDir);
  Deno.kill(pid, "SIGKILL");
  const err = assertCniError(
    await lab.exec(pod, "CHECK", { ...lab.config(1), prevResult: out.json }),
    Code.CheckFailed,
  );
  assert.match(err.msg, /daemon .* is not running/);
});

labTest(
  "ipsec: DEL after the netns vanished ends the daemon and the hub's SA",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "a");
    assertOk(await lab.add(pod));
    await lab.removePodNetns(pod);
    assertOk(await lab.del(pod));
    await assertNothingLeft(lab, pod);
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest(
  "ipsec: a wrong PSK is code 104 naming the key, and leaves nothing",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "a");
    const out = await lab.add(pod, lab.config(1, { vpn: { PSK: "not-the-hubs-key" } }));
    const err = assertCniError(out, Code.TunnelRejected);
    assert.match(err.msg, /rejected the pre-shared key/);
    assert.ok(!out.stdout.includes("not-the-hubs-key") && !out.stderr.includes("not-the-hubs-key"));
    await assertNothingLeft(lab, pod);
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest(
  "ipsec: an unreachable hub is code 11 (try again) after vpn.timeout, and leaves nothing",
  { nodes: 1, hub: false },
  async (lab) => {
    const pod = await lab.pod(1, "a");
    const out = await lab.add(pod, lab.config(1, { vpn: { timeout: 2 } }));
    const err = assertCniError(out, Code.TryAgainLater);
    assert.match(err.msg, /did not complete IKE within 2 s/);
    await assertNothingLeft(lab, pod);
  },
);

labTest(
  "ipsec: 20 concurrent ADDs on one node get distinct virtual IPs, none delayed by the hub's DoS limits",
  { nodes: 1 },
  async (lab) => {
    const pods = await Promise.all(Array.from({ length: 20 }, (_, i) => lab.pod(1, `c${i}`)));
    const outs = await Promise.all(pods.map((p) => lab.add(p)));
    outs.forEach((o) => assertOk(o));
    assert.equal(new Set(outs.map(vipOf)).size, 20);
    assert.equal(await lab.hubSaCount(), 20);
    // They all come from the node's address: strongSwan's per-address limits would ask for cookies
    // (whose answers a pod can lose, retransmitting 1.5 s later) or drop requests.
    const hubLog = await lab.hubLog();
    assert.doesNotMatch(hubLog, /N\(COOKIE\)/);
    assert.doesNotMatch(hubLog, /ignoring IKE_SA setup/);
  },
);

labTest(
  "ipsec: GC removes the attachments the runtime no longer lists, and only those",
  { nodes: 1 },
  async (lab) => {
    const keep = await lab.pod(1, "keep");
    const stale = await lab.pod(1, "stale");
    assertOk(await lab.add(keep));
    assertOk(await lab.add(stale));
    const gc = await lab.gc([keep]);
    assertOk(gc, "GC");
    await assertNothingLeft(lab, stale);
    const keepNames = await attachmentNames(keep.containerId, "eth0");
    assert.equal(
      (await daemonsOf(keepNames.stateDir)).length,
      1,
      "the listed attachment keeps its daemon",
    );
    assert.equal(await lab.hubSaCount(), 1);
  },
);

labTest(
  "ipsec: STATUS is ready here, and says what is missing otherwise",
  { nodes: 1, hub: false },
  async (lab) => {
    const config = { ...lab.config(1), cniVersion: "1.1.0" };
    assertOk(await callPlugin({ command: "STATUS", path: lab.cniPath, config }), "STATUS");
    const out = await callPlugin({
      command: "STATUS",
      path: lab.cniPath,
      config: { ...config, ipam: { type: "no-such-ipam" } },
    });
    const err = assertCniError(out, Code.NotAvailable);
    assert.match(err.msg, /no-such-ipam/);
    await run(["ip", "-n", lab.nodeNetns(1), "route", "add", "prohibit", "192.0.2.0/24"]);
    const noRoute = await callPlugin({
      command: "STATUS",
      path: lab.cniPath,
      nodeNetns: lab.nodeNetns(1),
      config: { ...lab.config(1, { vpn: { serverIP: "192.0.2.1" } }), cniVersion: "1.1.0" },
    });
    assert.match(assertCniError(noRoute, Code.NotAvailable).msg, /no route to hub 192\.0\.2\.1/);
  },
);

labTest(
  "ipsec: the daemon is detached: ADD returns while it runs, its directory is root-only",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "a");
    assertOk(await lab.add(pod));
    const names = await attachmentNames(pod.containerId, pod.ifname);
    const [pid] = await daemonsOf(names.stateDir);
    assert.ok(pid, "the daemon outlives the plugin");
    for (const fd of [0, 1, 2]) {
      // Seen from another mount namespace, /dev/null may read as "/null".
      assert.match(
        await Deno.readLink(`/proc/${pid}/fd/${fd}`),
        /\/null$/,
        `fd ${fd} is not the plugin's`,
      );
    }
    assert.equal(
      (await Deno.stat(names.stateDir)).mode! & 0o077,
      0,
      "state directory is root-only",
    );
    for await (const e of Deno.readDir(names.stateDir)) {
      if (!e.isFile) continue;
      assert.equal(
        (await Deno.stat(`${names.stateDir}/${e.name}`)).mode! & 0o077,
        0,
        `${e.name} is root-only`,
      );
      assert.ok(
        !(await Deno.readTextFile(`${names.stateDir}/${e.name}`)).includes("dummy1234"),
        `${e.name} holds no PSK`,
      );
    }
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    assert.ok(!cmdline.includes("dummy1234"));
  },
);

labTest(
  "ipsec: a pod's daemon does not pin the network namespaces of other pods",
  { nodes: 1 },
  async (lab) => {
    const x = await lab.pod(1, "x");
    const y = await lab.pod(1, "y");
    assertOk(await lab.add(x));
    const [pid] = await daemonsOf((await attachmentNames(x.containerId, x.ifname)).stateDir);
    const seen = async () =>
      (await Deno.readTextFile(`/proc/${pid}/mountinfo`)).includes(`/${y.netnsName} `);
    assert.ok(await seen(), "the daemon's mount namespace starts as a copy of the node's");
    await lab.removePodNetns(y);
    assert.ok(!(await seen()), "the node's unmount reached the daemon's copy");
  },
);

labTest(
  "ipsec: the seed's commented config works as printed (0.1.0 result)",
  { nodes: 1 },
  async (lab) => {
    const seed = await Deno.readTextFile(
      new URL("../../conf/10-strongswan.jsonc", import.meta.url),
    );
    // Only the lease directory changes, so the test keeps its leases to itself; comments stay.
    const jsonc = seed
      .replace('"name": "ipsec"', `"name": "${lab.network}"`)
      .replace(
        '"subnet": "172.17.0.0/16"',
        `"subnet": "172.17.0.0/16", "dataDir": "${lab.dir}/ipam-node1" // a comment`,
      )
      .replace('"bridge": "docker0",', `"bridge": "docker0", "logFile": "${lab.dir}/cni.log",`);
    const pod = await lab.pod(1, "seed");
    const out = await lab.add(pod, jsonc);
    assertOk(out);
    const ip4 = out.json!.ip4 as { ip: string };
    assert.equal(out.json!.cniVersion, "0.1.0");
    assert.match(ip4.ip, /^10\.173\.\d+\.\d+\/32$/, "0.1.0 results carry the virtual IP as ip4");
    assertOk(await lab.del(pod, jsonc));
    await assertNothingLeft(lab, pod);
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest(
  "ipsec: fails closed: with its daemon gone, a pod's tunnelled traffic is refused, not sent in clear",
  { nodes: 2 },
  async (lab) => {
    const a = await lab.pod(1, "a");
    const b = await lab.pod(2, "b");
    assertOk(await lab.add(a));
    const rb = await lab.add(b);
    assertOk(rb);
    assert.ok(await lab.ping(a.netnsName, vipOf(rb)), "the tunnel works first");
    const [pid] = await daemonsOf((await attachmentNames(a.containerId, a.ifname)).stateDir);
    Deno.kill(pid, "SIGKILL");
    // The TUN device, and the tunnel's routes with it, go once the dead daemon's files close.
    for (
      let i = 0;
      i < 200 && await tryRun(["ip", "-n", a.netnsName, "link", "show", "ipsec0"]);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const dst of [vipOf(rb), lab.nodeAddress(2)]) {
      const route = await run(["ip", "-n", a.netnsName, "route", "get", dst]).then(
        (r) => r.stdout,
        (e) => String(e),
      );
      // The guard's rule answers `ip route get` with "Network is unreachable".
      assert.match(
        route,
        /Network is unreachable/,
        `${dst} must be unreachable, not sent in clear: ${route}`,
      );
    }
    assert.ok(!(await lab.ping(a.netnsName, vipOf(rb))));
  },
);

labTest(
  "ipsec: ADD killed at any point: DEL still finds and removes all of it",
  { nodes: 1 },
  async (lab) => {
    // Spread over the plugin's life: start-up, daemon start, IPAM and links, IKE.
    for (const ms of [60, 90, 110, 125, 140, 160]) {
      const pod = await lab.pod(1, `k${ms}`);
      const killed = await lab.exec(pod, "ADD", lab.config(1), { killAfterMs: ms });
      assertOk(
        await lab.del(pod),
        `DEL after ADD was killed at ${ms} ms (ADD exit ${killed.code})`,
      );
      await assertNothingLeft(lab, pod);
    }
    assert.equal(await lab.hubSaCount(), 0);
  },
);

labTest(
  "ipsec: an exhausted pool is code 104 saying so, and leaves nothing",
  { nodes: 1, virtualSubnet: "10.173.0.0/30" }, // the hub keeps .1 and pools only .2
  async (lab) => {
    const first = await lab.pod(1, "first");
    const second = await lab.pod(1, "second");
    assertOk(await lab.add(first));
    const err = assertCniError(await lab.add(second), Code.TunnelRejected);
    assert.match(err.msg, /assigned no virtual IP \(is its pool exhausted\?\)/);
    await assertNothingLeft(lab, second);
    assert.equal(await lab.hubSaCount(), 1);
  },
);

labTest(
  "ipsec: DEL with the hub unreachable still removes everything",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "a");
    assertOk(await lab.add(pod));
    // A partition: the hub neither answers nor says goodbye.
    await run(["ip", "-n", lab.nodeNetns(1), "link", "set", "lan0", "down"]);
    assertOk(await lab.del(pod));
    await assertNothingLeft(lab, pod);
  },
);
