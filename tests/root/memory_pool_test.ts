/**
 * The README's promise about the in-memory pool: a hub restart forgets its
 * leases, pods come back by themselves, but an address can change; CHECK
 * and status then name both addresses.
 */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { assertCniError, assertOk, labTest, vipOf, waitFor } from "./support.ts";

labTest(
  "memory pool: after a hub crash a pod comes back, with another address; CHECK and status say so",
  { nodes: 1 },
  async (lab) => {
    const first = await lab.pod(1, "first");
    const second = await lab.pod(1, "second");
    const a = await lab.add(first);
    const b = await lab.add(second);
    assertOk(a);
    assertOk(b);
    // Free the lowest address: the restarted hub's fresh pool hands it to the first pod back.
    assertOk(await lab.del(first));
    await lab.crashHub();
    await lab.startHub();
    const back = await waitFor("the pod back on the hub", 60_000, async () => {
      const sas = await lab.hubSas();
      return sas.length === 1 ? sas[0] : undefined;
    });
    assert.equal(back.vip, vipOf(a), "the fresh pool gave out its first address again");
    assert.notEqual(back.vip, vipOf(b));
    const check = await lab.exec(second, "CHECK", { ...lab.config(1), prevResult: b.json });
    const err = assertCniError(check, Code.CheckFailed);
    assert.match(
      err.msg,
      new RegExp(
        `virtual IP is ${back.vip.replaceAll(".", "\\.")}, but the pod's address is ${
          vipOf(b).replaceAll(".", "\\.")
        }`,
      ),
    );
    const status = await lab.cli(1, "status", "--network", lab.network);
    assert.equal(status.code, 1, status.stdout);
    assert.match(status.stdout, /its virtual IP is .*, but the pod's address is/);
  },
);
