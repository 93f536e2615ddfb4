/**
 * A hub pair (keepalived moves serverIP, one lease server): the active hub's
 * link goes down, pods on two nodes are back on the standby with their
 * addresses, the old hub coming back takes nothing back, and its leftover
 * SAs release no lease that pods now hold.
 */

import assert from "node:assert/strict";
import type { Pod } from "../../lab/lab.ts";
import { assertOk, labTest, ringPings, vipOf, waitFor } from "./support.ts";

/** Hubs that give up on silent pods in seconds, so the old hub's leftovers go within the test. */
export const FAST_HUB_DPD = {
  hubSwanctl: (t: string) => t.replace(/dpd_delay = .*/, "dpd_delay = 2s"),
  hubStrongswan: (t: string) =>
    t.replace("retransmit_tries = 3", "retransmit_tries = 1").replace(
      "retransmit_timeout = 2.0",
      "retransmit_timeout = 1.0",
    ),
};

labTest(
  "failover: the active hub's link goes down; pods are back on the standby with their addresses; it keeps serverIP when the old one returns",
  { nodes: 2, leaseServer: true, hubs: 2, ...FAST_HUB_DPD },
  async (lab) => {
    assert.equal(await lab.activeHub(), 1);
    const pods: Pod[] = [];
    for (let i = 0; i < 4; i++) pods.push(await lab.pod(1 + (i % 2), `f${i}`));
    const vips = (await Promise.all(pods.map((p) => lab.add(p)))).map((o) => {
      assertOk(o);
      return vipOf(o);
    });
    const before = new Map((await lab.hubSas(1)).map((s) => [s.identity, s.vip]));
    assert.equal(before.size, 4);

    await lab.partitionHub(true, 1);
    const cut = Date.now();
    const moved = await waitFor("every pod on the standby", 45_000, async () => {
      const sas = await lab.hubSas(2);
      return sas.length === 4 ? sas : undefined;
    });
    console.log(
      `failover: every pod back on the standby ${
        ((Date.now() - cut) / 1000).toFixed(1)
      } s after the link went down`,
    );
    assert.equal(await lab.activeHub(), 2);
    for (const sa of moved) {
      assert.equal(sa.vip, before.get(sa.identity), `${sa.identity} kept its address`);
    }
    assert.deepEqual(
      await ringPings(lab, pods, vips),
      [],
      "pod-to-pod traffic flows through the new hub",
    );

    const standby = await lab.cli(
      -2,
      "status",
      "--hub",
      `${lab.dir}/network.json`,
      "--vici-socket",
      lab.hubViciSocket(2),
    );
    assert.match(standby.stdout, /this hub holds 10\.9\.0\.2: active/);

    await lab.partitionHub(false, 1);
    // The old hub's dead peer detection gives up on its leftover SAs; their releases must not count.
    await waitFor(
      "the old hub to drop its leftover SAs",
      30_000,
      async () => (await lab.hubSaCount(1)) === 0 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await lab.activeHub(), 2, "the returning hub did not take serverIP back");
    const old = await lab.cli(
      -1,
      "status",
      "--hub",
      `${lab.dir}/network.json`,
      "--vici-socket",
      lab.hubViciSocket(1),
    );
    assert.match(old.stdout, /does not hold 10\.9\.0\.2: standby/);
    assert.deepEqual(
      (await lab.leases()).map((l) => l.ip).sort(),
      [...vips].sort(),
      "every pod's lease is still held",
    );
    assert.equal((await lab.hubSas(2)).length, 4);
    assert.deepEqual(await ringPings(lab, pods, vips), []);
  },
);
