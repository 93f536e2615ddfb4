/**
 * The lease server is not the next single point of failure: two Kea servers
 * replicate the pods' leases (HA hot-standby); keepalived moves the address
 * the hub relays to. The primary's host is cut off: new pods still get
 * addresses no pod holds, and pods that must reconnect (the hub crashed)
 * get their own addresses back from the standby.
 */

import assert from "node:assert/strict";
import type { Pod } from "../../lab/lab.ts";
import { assertOk, labTest, vipOf, waitFor } from "./support.ts";

labTest(
  "lease servers: the Kea primary is cut off; new pods get fresh addresses and reconnecting pods their own from the standby",
  { nodes: 1, leaseServer: "kea-pair" },
  async (lab) => {
    const pods: Pod[] = [await lab.pod(1, "k1"), await lab.pod(1, "k2")];
    const vips = (await Promise.all(pods.map((p) => lab.add(p)))).map((o) => {
      assertOk(o);
      return vipOf(o);
    });
    assert.deepEqual((await lab.leases()).map((l) => l.ip).sort(), [...vips].sort());

    await lab.partitionLeaseServer(0, true);
    await waitFor(
      "the standby to hold the lease address",
      15_000,
      async () => (await lab.leaseServerHolder()) === 1 ? true : undefined,
    );
    // The standby serves once it takes its partner for down (~3 s): ADD may have to wait for that.
    const late = await lab.pod(1, "k3");
    const added = await waitFor("an ADD served by the standby", 30_000, async () => {
      const out = await lab.add(late, lab.config(1, { vpn: { timeout: 3 } }));
      return out.code === 0 ? out : undefined;
    });
    assert.ok(!vips.includes(vipOf(added)), `the new pod took live address ${vipOf(added)}`);

    // Every pod must ask again: the standby has their leases, replicated.
    await lab.crashHub();
    await lab.startHub();
    const back = await waitFor("the pods back on the hub", 60_000, async () => {
      const sas = await lab.hubSas();
      return sas.length === 3 ? sas : undefined;
    });
    assert.deepEqual(
      back.map((s) => s.vip).sort(),
      [...vips, vipOf(added)].sort(),
      "each kept its address",
    );
    assert.deepEqual((await lab.leases()).map((l) => l.ip).sort(), [...vips, vipOf(added)].sort());
  },
);
