/** The hub cut off for 40 s: nothing leaves in clear meanwhile, and pods are back soon after it heals. */

import assert from "node:assert/strict";
import { run } from "../../mod/exec.ts";
import type { Pod } from "../../lab/lab.ts";
import { assertOk, labTest, ringPings, vipOf, waitFor } from "./support.ts";

labTest(
  "partition: the hub unreachable for 40 s; pods are back with their addresses within 60 s of healing",
  { nodes: 2, leaseServer: true },
  async (lab) => {
    const pods: Pod[] = [await lab.pod(1, "a"), await lab.pod(2, "b"), await lab.pod(1, "c")];
    const vips = (await Promise.all(pods.map((p) => lab.add(p)))).map((o) => {
      assertOk(o);
      return vipOf(o);
    });
    await lab.partitionHub(true);
    await new Promise((r) => setTimeout(r, 20_000));
    // Mid-partition the pods' tunnels are down: tunnelled traffic is refused, not sent in clear.
    const route = await run(["ip", "-n", pods[0].netnsName, "route", "get", vips[1]]).then(
      (r) => r.stdout,
      (e) => String(e),
    );
    assert.match(route, /Network is unreachable|dev ipsec0/, route);
    await new Promise((r) => setTimeout(r, 20_000));
    await lab.partitionHub(false);
    const healed = Date.now();
    await waitFor(
      "pod-to-pod traffic after healing",
      60_000,
      async () => (await ringPings(lab, pods, vips)).length === 0 ? true : undefined,
    );
    console.log(
      `partition of 40 s: traffic back ${
        ((Date.now() - healed) / 1000).toFixed(1)
      } s after healing`,
    );
    const held = (await lab.hubSas()).map((s) => s.vip).sort();
    assert.deepEqual(held, [...vips].sort(), "each pod has its own address again, and only once");
  },
);
