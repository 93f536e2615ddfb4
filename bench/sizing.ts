/**
 * `deno task bench`, part two (root): sizing. Throughput between two pods on
 * two nodes through the hub with the userspace datapath (iperf3, TCP, 5 s),
 * the hub's and a pod daemon's CPU meanwhile, and the hub's CPU for idle
 * pods (their dead peer detection every 5 s). Appends to dist/bench.json.
 */

import { Lab } from "../lab/lab.ts";
import { run } from "../mod/exec.ts";
import { daemonsOf } from "../tests/root/support.ts";
import { attachmentNames } from "../mod/net/names.ts";

if (Deno.uid() !== 0) {
  console.error("sizing benchmark skipped: it needs root (namespaces, daemons)");
  Deno.exit(0);
}

const IDLE_PODS = 20;
const IDLE_SECONDS = 20;

/** CPU time of a process, all its threads, in ms. */
async function cpuMs(pid: number): Promise<number> {
  let ns = 0;
  for await (const t of Deno.readDir(`/proc/${pid}/task`)) {
    ns += Number((await Deno.readTextFile(`/proc/${pid}/task/${t.name}/schedstat`)).split(" ")[0]);
  }
  return ns / 1e6;
}

async function hubPid(lab: Lab): Promise<number> {
  return Number((await Deno.readTextFile(`${lab.hubDir}/run/charon.pid`)).trim());
}

const lab = await Lab.create({ nodes: 2 });
try {
  const a = await lab.pod(1, "sa");
  const b = await lab.pod(2, "sb");
  const [ra, rb] = [await lab.add(a), await lab.add(b)];
  if (ra.code || rb.code) throw new Error(`${ra.stdout}${rb.stdout}`);
  const vipB = (rb.json!.ips as { address: string }[])[0].address.split("/")[0];
  const server = new Deno.Command("ip", {
    args: ["netns", "exec", b.netnsName, "iperf3", "-s", "-1", "-B", vipB],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 300));
  const hub = await hubPid(lab);
  const [podDaemon] = await daemonsOf((await attachmentNames(a.containerId, a.ifname)).stateDir);
  const hub0 = await cpuMs(hub);
  const pod0 = await cpuMs(podDaemon);
  const t0 = performance.now();
  const { stdout } = await run(
    ["ip", "netns", "exec", a.netnsName, "iperf3", "-c", vipB, "-t", "5", "-J"],
    { timeoutMs: 30_000 },
  );
  const wall = performance.now() - t0;
  const hubShare = (await cpuMs(hub) - hub0) / wall;
  const podShare = (await cpuMs(podDaemon) - pod0) / wall;
  await server.status;
  const result = JSON.parse(stdout);
  const mbits = result.end.sum_received.bits_per_second / 1e6;

  // Idle pods: what keeping them costs the hub (dead peer detection, rekeying none in this time).
  const idle = [];
  for (let i = 0; i < IDLE_PODS; i++) idle.push(await lab.pod(1 + (i % 2), `i${i}`));
  for (const p of idle) {
    const out = await lab.add(p);
    if (out.code) throw new Error(out.stdout);
  }
  await new Promise((r) => setTimeout(r, 2000));
  const idle0 = await cpuMs(hub);
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idlePerPodPerSecond = (await cpuMs(hub) - idle0) / IDLE_SECONDS / (IDLE_PODS + 2);

  const lines = [
    `pod-to-pod TCP through the hub (userspace ESP, AES-GCM-256): ${mbits.toFixed(0)} Mbit/s`,
    `  the hub's charon meanwhile: ${
      (hubShare * 100).toFixed(0)
    }% of one core; the sending pod's: ${(podShare * 100).toFixed(0)}%`,
    `  so one hub core carries ~${(mbits / hubShare).toFixed(0)} Mbit/s of pod-to-pod traffic`,
    `idle pods: ${idlePerPodPerSecond.toFixed(3)} ms of hub CPU per pod per second (DPD every 5 s)`,
    `  so dead peer detection alone would fill one hub core at ~${
      (1000 / idlePerPodPerSecond).toFixed(0)
    } pods`,
  ];
  console.log(lines.join("\n"));
  const file = "dist/bench.json";
  const previous = await Deno.readTextFile(file).then(JSON.parse).catch(() => ({}));
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        ...previous,
        sizing: {
          podToPodMbits: mbits,
          hubCoreShare: hubShare,
          podCoreShare: podShare,
          mbitsPerHubCore: mbits / hubShare,
          idleHubCpuMsPerPodSecond: idlePerPodPerSecond,
        },
      },
      null,
      2,
    ),
  );
} finally {
  await lab.cleanup();
}
