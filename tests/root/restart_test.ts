/**
 * A hub restart in lease-server mode: pods notice by dead peer detection,
 * come back on their own, each with its old address (the lease server keeps
 * leases per pod identity); new pods never take a live pod's address; leases
 * go when the pod does.
 */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import type { Pod } from "../../lab/lab.ts";
import {
  assertCniError,
  assertNothingLeft,
  assertOk,
  daemonsOf,
  labTest,
  ringPings,
  vipOf,
  waitFor,
} from "./support.ts";

labTest(
  "restart: 10 pods survive a hub crash with their own addresses, and traffic flows again",
  { nodes: 2, leaseServer: true },
  async (lab) => {
    const pods: Pod[] = [];
    for (let i = 0; i < 10; i++) pods.push(await lab.pod(1 + (i % 2), `r${i}`));
    const outs = await Promise.all(pods.map((p) => lab.add(p)));
    outs.forEach((o) => assertOk(o));
    const vips = outs.map(vipOf);
    assert.equal(new Set(vips).size, 10);
    const before = new Map((await lab.hubSas()).map((s) => [s.identity, s.vip]));

    await lab.crashHub();
    await lab.startHub();
    const started = Date.now();
    const after = await waitFor("all 10 pods back on the hub", 60_000, async () => {
      const sas = await lab.hubSas();
      return sas.length === 10 ? sas : undefined;
    });
    console.log(
      `hub crash: all 10 pods back ${
        ((Date.now() - started) / 1000).toFixed(1)
      } s after the hub restarted`,
    );
    for (const sa of after) {
      assert.equal(sa.vip, before.get(sa.identity), `${sa.identity} kept its address`);
    }
    assert.equal(new Set(after.map((s) => s.vip)).size, 10, "no address held by two pods");
    assert.deepEqual(await ringPings(lab, pods, vips), [], "pod-to-pod traffic flows again");
    for (const [i, p] of pods.entries()) {
      assertOk(
        await lab.exec(p, "CHECK", { ...lab.config(p.node), prevResult: outs[i].json }),
        `CHECK ${p.name}`,
      );
    }
  },
);

labTest(
  "restart: pods added while the hub is down fail (11) and leave nothing; afterwards none takes a live pod's address",
  { nodes: 1, leaseServer: true },
  async (lab) => {
    const live = [await lab.pod(1, "l1"), await lab.pod(1, "l2"), await lab.pod(1, "l3")];
    const liveVips = (await Promise.all(live.map((p) => lab.add(p)))).map((o) => {
      assertOk(o);
      return vipOf(o);
    });
    await lab.crashHub();
    const during = [await lab.pod(1, "d1"), await lab.pod(1, "d2")];
    const failed = await Promise.all(
      during.map((p) => lab.add(p, lab.config(1, { vpn: { timeout: 2 } }))),
    );
    for (const [i, out] of failed.entries()) {
      assertCniError(out, Code.TryAgainLater);
      await assertNothingLeft(lab, during[i]);
    }
    await lab.startHub();
    // New pods race the old ones reconnecting: each either gets an address or a clean code 11.
    const racing = [await lab.pod(1, "n1"), await lab.pod(1, "n2"), await lab.pod(1, "n3")];
    const raced = await Promise.all(racing.map((p) => lab.add(p)));
    const newVips = raced.filter((o) => o.code === 0).map(vipOf);
    for (const [i, out] of raced.entries()) {
      if (out.code !== 0) {
        assertCniError(out, Code.TryAgainLater);
        await assertNothingLeft(lab, racing[i]);
      }
    }
    for (const v of newVips) assert.ok(!liveVips.includes(v), `a new pod took live address ${v}`);
    const sas = await waitFor("the live pods back", 60_000, async () => {
      const all = await lab.hubSas();
      return all.length === 3 + newVips.length ? all : undefined;
    });
    const held = sas.map((s) => s.vip);
    assert.equal(new Set(held).size, held.length, "no address held by two pods");
    for (const v of liveVips) assert.ok(held.includes(v), `live pod ${v} kept its address`);
  },
);

labTest(
  "restart: DEL releases the pod's lease, and so does the hub's dead peer detection for a pod that vanished",
  {
    nodes: 1,
    leaseServer: true,
    // A hub that gives up on a silent pod in seconds rather than a minute, for the test's sake.
    hubSwanctl: (t) => t.replace(/dpd_delay = .*/, "dpd_delay = 2s"),
    hubStrongswan: (t) =>
      t.replace("retransmit_tries = 3", "retransmit_tries = 1").replace(
        "retransmit_timeout = 2.0",
        "retransmit_timeout = 1.0",
      ),
  },
  async (lab) => {
    const gone = await lab.pod(1, "gone");
    const vanished = await lab.pod(1, "vanished");
    const [a, b] = [await lab.add(gone), await lab.add(vanished)];
    assertOk(a);
    assertOk(b);
    const leased = async () => (await lab.leases()).map((l) => l.ip);
    assert.deepEqual((await leased()).sort(), [vipOf(a), vipOf(b)].sort());

    assertOk(await lab.del(gone));
    await waitFor(
      "DEL's lease released",
      10_000,
      async () => (await leased()).includes(vipOf(a)) ? undefined : true,
    );

    // The pod vanishes without a word: its daemon killed, its namespace gone.
    const { stateDir } = await attachmentNames(vanished.containerId, vanished.ifname);
    for (const pid of await daemonsOf(stateDir)) Deno.kill(pid, "SIGKILL");
    await lab.removePodNetns(vanished);
    await waitFor(
      "the hub to release the vanished pod's lease",
      30_000,
      async () => (await leased()).includes(vipOf(b)) ? undefined : true,
    );
    assert.equal(await lab.hubSaCount(), 0);
    assertOk(await lab.del(vanished), "the runtime's DEL afterwards");
  },
);
