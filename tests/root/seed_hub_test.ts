/**
 * A hub configured by hand as the original README asks ("define a virtual ip
 * pool ... Same value on strongSwan server"): the pool is all of
 * virtualSubnet, one PSK, strongSwan's defaults for everything else. Nothing
 * of server-config's reaches its connection, its secrets or its limits;
 * only the lab's own plumbing (file paths, the userspace datapath these
 * machines need) stays in its strongswan.conf.
 *
 * One line is this machine's, not the seed's: its kernel has no ESP, so the
 * hub runs kernel-libipsec, which as a responder installs its routes only
 * with a source address inside its local traffic selector, and this pool
 * leaves it none ("error installing route with policy", TS_UNACCEPTABLE).
 * The subnet's network address, which no pool hands out, serves (on lo).
 * A hub with kernel ESP needs nothing of the kind.
 */

import assert from "node:assert/strict";
import { run } from "../../mod/exec.ts";
import { HUB_CHARON_SETTINGS } from "../../mod/hub/settings.ts";
import { HOST_SUBNET, LAB_PSK, type Pod, SERVER_IP, VIRTUAL_SUBNET } from "../../lab/lab.ts";
import { assertNothingLeft, assertOk, labTest, vipOf } from "./support.ts";

/** What an operator writes from the seed README: pool = virtualSubnet, PSK, nothing else. */
const SEED_HUB_SWANCTL = `connections {
  rw {
    pools = rw_pool
    local {
      auth = psk
      id = ${SERVER_IP}
    }
    remote {
      auth = psk
    }
    children {
      rw {
        local_ts = ${VIRTUAL_SUBNET},${HOST_SUBNET}
      }
    }
  }
}
pools {
  rw_pool {
    addrs = ${VIRTUAL_SUBNET}
  }
}
secrets {
  ike-rw {
    secret = ${LAB_PSK}
  }
}
`;

/** strongSwan's defaults: none of the retransmit or half-open limits server-config raises. */
function seedHubStrongswan(text: string): string {
  const tuned = new Set(HUB_CHARON_SETTINGS);
  const kept = text.split("\n").filter((line) => !tuned.has(line.trim()));
  assert.equal(text.split("\n").length - kept.length, tuned.size, "each tuned setting removed");
  return kept.join("\n");
}

labTest(
  "seed hub: a hand-configured hub's first address goes to the first pod; pods reach each other",
  {
    nodes: 2,
    hubSwanctl: () => SEED_HUB_SWANCTL,
    hubStrongswan: seedHubStrongswan,
    hubOwnAddress: false,
  },
  async (lab) => {
    const network = VIRTUAL_SUBNET.split("/")[0];
    await run(["ip", "-n", lab.hubNetns, "addr", "add", `${network}/32`, "dev", "lo"]);
    const first = await lab.pod(1, "first");
    const firstOut = await lab.add(first);
    assertOk(firstOut, "ADD of the first pod");
    assert.equal(vipOf(firstOut), "10.173.0.1", "the pool's first address is a pod's");

    const pods: Pod[] = [first, await lab.pod(1, "n1p2"), await lab.pod(2, "n2p1")];
    const outs = [firstOut];
    for (const p of pods.slice(1)) {
      const out = await lab.add(p);
      assertOk(out, `ADD of ${p.name}`);
      outs.push(out);
    }
    const vips = outs.map(vipOf);
    assert.equal(new Set(vips).size, 3, `every pod has its own virtual IP: ${vips}`);

    const matrix = await Promise.all(
      pods.flatMap((from) =>
        vips.map((to) => lab.ping(from.netnsName, to).then((ok) => ({ from: from.name, to, ok })))
      ),
    );
    assert.deepEqual(matrix.filter((m) => !m.ok), [], "every pod reaches every virtual IP");
    // Hairpin: two pods of one node, through the hub and back over the same bridge.
    assert.ok(
      await lab.ping(pods[1].netnsName, vips[0], 56, 3),
      "pods of one node reach each other",
    );
    assert.ok(
      await lab.ping(pods[2].netnsName, vips[0], 1472, 3),
      "a 1500-byte packet crosses the hand-configured hub",
    );
    for (const [i, p] of pods.entries()) {
      assertOk(
        await lab.exec(p, "CHECK", { ...lab.config(p.node), prevResult: outs[i].json }),
        "CHECK",
      );
    }
    for (const p of pods) assertOk(await lab.del(p), `DEL of ${p.name}`);
    for (const p of pods) await assertNothingLeft(lab, p);
    assert.equal(await lab.hubSaCount(), 0, "DEL ended every SA at the hub");
  },
);
