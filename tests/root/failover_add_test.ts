/** During and after a hub failover: ADD gets a fresh address or fails cleanly; DEL releases on the new hub. */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import type { Pod } from "../../lab/lab.ts";
import { assertCniError, assertNothingLeft, assertOk, labTest, vipOf, waitFor } from "./support.ts";

labTest(
  "failover: a pod added during it gets an address no live pod holds, or code 11 and nothing left; DEL afterwards releases SA and lease on the new hub",
  { nodes: 1, leaseServer: true, hubs: 2 },
  async (lab) => {
    const live: Pod[] = [await lab.pod(1, "l1"), await lab.pod(1, "l2")];
    const liveVips = (await Promise.all(live.map((p) => lab.add(p)))).map((o) => {
      assertOk(o);
      return vipOf(o);
    });
    await lab.partitionHub(true, 1);
    // Added while the standby takes over: the hub may answer, or not yet.
    const during = await lab.pod(1, "during");
    const out = await lab.add(during, lab.config(1, { vpn: { timeout: 3 } }));
    if (out.code === 0) {
      assert.ok(!liveVips.includes(vipOf(out)), `the new pod took live address ${vipOf(out)}`);
    } else {
      assertCniError(out, Code.TryAgainLater);
      await assertNothingLeft(lab, during);
    }
    const expected = 2 + (out.code === 0 ? 1 : 0);
    await waitFor(
      "every pod on the new hub",
      45_000,
      async () => (await lab.hubSas(2)).length === expected ? true : undefined,
    );
    const held = (await lab.hubSas(2)).map((s) => s.vip);
    assert.equal(new Set(held).size, held.length, "no address held by two pods");

    const gone = live[0];
    assertOk(await lab.del(gone));
    assert.equal((await lab.hubSas(2)).length, expected - 1, "DEL ended the SA on the new hub");
    await waitFor(
      "its lease released",
      10_000,
      async () => (await lab.leases()).some((l) => l.ip === liveVips[0]) ? undefined : true,
    );
    await assertNothingLeft(lab, gone);
  },
);
