/**
 * Hub failover time (root): a hub pair, four pods on two nodes, the active
 * hub's link cut; timed from the cut until the standby holds every pod
 * again. Each run builds its own lab outside the timed part. The settings
 * that bound it: VRRP advert 1 s (takeover ~3.6 s), pod DPD after 5 s of
 * silence, then ~14 s of retransmits.
 */

import { Lab } from "../lab/lab.ts";

const canRun = Deno.uid() === 0;
if (!canRun) console.error("failover benchmark skipped: it needs root (namespaces, daemons)");

const RUNS = 5;
const PODS = 4;
const times: number[] = [];

Deno.bench({
  name: `hub failover: active hub's link cut until the standby holds all ${PODS} pods`,
  group: "failover",
  ignore: !canRun,
  n: RUNS,
  warmup: 0,
  async fn(b) {
    const lab = await Lab.create({ nodes: 2, leaseServer: true, hubs: 2 });
    try {
      const pods = [];
      for (let i = 0; i < PODS; i++) pods.push(await lab.pod(1 + (i % 2), `fo${i}`));
      for (const p of pods) {
        const out = await lab.add(p);
        if (out.code !== 0) throw new Error(out.stdout);
      }
      const active = await lab.activeHub();
      const standby = 3 - active;
      b.start();
      const cut = performance.now();
      await lab.partitionHub(true, active);
      while ((await lab.hubSas(standby).catch(() => [])).length < PODS) {
        if (performance.now() - cut > 60_000) throw new Error("no failover within 60 s");
        await new Promise((r) => setTimeout(r, 100));
      }
      times.push(performance.now() - cut);
      b.end();
    } finally {
      await lab.cleanup();
    }
    if (times.length === RUNS) {
      const sorted = [...times].sort((a, b) => a - b);
      console.log(
        `failover over ${RUNS} runs: p50 ${(sorted[Math.floor(RUNS / 2)] / 1000).toFixed(1)} s, ` +
          `worst ${(sorted[RUNS - 1] / 1000).toFixed(1)} s (${
            sorted.map((t) => (t / 1000).toFixed(1)).join(", ")
          })`,
      );
    }
  },
});
