/**
 * `deno task bench`, part one (root): the plugin's ADD and DEL against the
 * floor, in turn in one run on one node with a hub. The floor is the
 * same work by hand: the Go reference bridge plugin's ADD (host-local,
 * ipMasq), then a bare strongSwan bring-up in the pod's netns (charon with
 * the same settings as the plugin's, `swanctl --load-all`, `swanctl
 * --initiate`). Prints a table, writes dist/bench.json. CPU is that of
 * every process the benchmark started (cpu.ts): the plugin, its children,
 * the daemons, the hub, and the benchmark's own work for the floor.
 */

import { join } from "node:path";
import { run } from "../mod/exec.ts";
import { ESP_PROPOSAL, IKE_PROPOSAL, podStrongswanConf } from "../mod/ipsec/config.ts";
import {
  connectVici,
  type DaemonId,
  daemonPaths,
  launchDaemon,
  POD_DAEMON_ENV,
  stopDaemon,
} from "../mod/ipsec/daemon.ts";
import { Lab, LAB_PSK, type Pod, SERVER_IP } from "../lab/lab.ts";
import { callPlugin, REFERENCE_PLUGINS } from "../lab/plugin.ts";
import { cpuMeter } from "./cpu.ts";

const SEQUENTIAL = 15;
const AT_ONCE = [1, 10, 30];
/** Rounds of each at-once size per way; the median counts. */
const AT_ONCE_ROUNDS = 3;

if (Deno.uid() !== 0) {
  console.error("attach benchmark skipped: it needs root (namespaces, daemons)");
  Deno.exit(0);
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
};

interface Way {
  name: string;
  add(pod: Pod): Promise<void>;
  del(pod: Pod): Promise<void>;
  /** Ends whatever the way started and still runs. */
  cleanup(): Promise<void>;
}

function ours(lab: Lab): Way {
  return {
    name: "strongswan plugin",
    async add(pod) {
      const out = await lab.add(pod);
      if (out.code !== 0) throw new Error(`ADD failed: ${out.stdout}`);
    },
    async del(pod) {
      const out = await lab.del(pod);
      if (out.code !== 0) throw new Error(`DEL failed: ${out.stdout}`);
    },
    // The lab's cleanup DELs what the plugin attached.
    cleanup: () => Promise.resolve(),
  };
}

/** The floor: the Go bridge plugin, then strongSwan brought up by hand, in sequence. */
function floor(lab: Lab): Way {
  const daemons = new Map<string, { id: DaemonId; socket: string }>();
  const { vpn: _vpn, ...bridgeConfig } = lab.config(1, { type: "bridge" });
  const bridge = (pod: Pod, command: "ADD" | "DEL") =>
    callPlugin({
      command,
      containerId: pod.containerId,
      netns: pod.netns,
      ifname: pod.ifname,
      path: [REFERENCE_PLUGINS],
      config: bridgeConfig,
      nodeNetns: lab.nodeNetns(1),
      type: "bridge",
    });
  return {
    name: "floor (Go bridge + bare strongSwan)",
    async add(pod) {
      const out = await bridge(pod, "ADD");
      if (out.code !== 0) throw new Error(`bridge ADD failed: ${out.stdout}`);
      const dir = join(lab.dir, `floor-${pod.name}`);
      await Deno.mkdir(dir);
      const paths = daemonPaths(dir);
      await Deno.writeTextFile(paths.confFile, podStrongswanConf("userspace", "eth0", paths));
      const swanctl = join(dir, "swanctl.conf");
      await Deno.writeTextFile(
        swanctl,
        `connections { hub { remote_addrs = ${SERVER_IP}
  vips = 0.0.0.0
  proposals = ${IKE_PROPOSAL}
  local { auth = psk
    id = ${pod.containerId} }
  remote { auth = psk
    id = ${SERVER_IP} }
  children { hub { remote_ts = ${lab.virtualSubnet},10.9.0.0/24
    esp_proposals = ${ESP_PROPOSAL} } } } }
secrets { ike { secret = ${LAB_PSK} } }
`,
      );
      const daemon = await launchDaemon(pod.netns, paths, POD_DAEMON_ENV);
      daemons.set(pod.name, { id: daemon.id, socket: paths.viciSocket });
      (await connectVici(paths, daemon, 10_000)).close();
      const uri = `unix://${paths.viciSocket}`;
      await run(["swanctl", "--load-all", "--file", swanctl, "--uri", uri]);
      await run([
        "swanctl",
        "--initiate",
        "--child",
        "hub",
        "--ike",
        "hub",
        "--timeout",
        "20",
        "--uri",
        uri,
      ], {
        timeoutMs: 30_000,
      });
    },
    async del(pod) {
      const daemon = daemons.get(pod.name);
      if (daemon) {
        await run(["swanctl", "--terminate", "--ike", "hub", "--uri", `unix://${daemon.socket}`])
          .catch(
            () => {},
          );
        await stopDaemon(daemon.id);
        daemons.delete(pod.name);
      }
      await bridge(pod, "DEL");
    },
    async cleanup() {
      for (const { id } of daemons.values()) await stopDaemon(id);
      daemons.clear();
    },
  };
}

interface Figures {
  addP50: number;
  addP95: number;
  delP50: number;
  delP95: number;
  cpuPerAdd: number;
  atOnce: Record<string, { wallMs: number; cpuPerPodMs: number }>;
}

let serial = 0;
async function pods(lab: Lab, n: number): Promise<Pod[]> {
  return await Promise.all(Array.from({ length: n }, () => lab.pod(1, `b${serial++}`)));
}

const timed = async (fn: () => Promise<void>) => {
  const start = performance.now();
  await fn();
  return performance.now() - start;
};

/** Lets what an ADD set going (the hub's side, the daemon settling) finish inside its CPU window. */
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each round, the two ways in turn, first one then the other: drift on a noisy machine hits both. */
const turns = (round: number) => round % 2 ? [1, 0] : [0, 1];

/**
 * Both ways, interleaved: one ADD each in turn (then one DEL each), and
 * each at-once size in rounds that alternate the ways. Each figure's CPU is
 * the cgroup's (or machine's) CPU over that ADD's window, settling included.
 */
async function measureWays(lab: Lab, ways: Way[]): Promise<Figures[]> {
  const seq = await Promise.all(ways.map(() => pods(lab, SEQUENTIAL)));
  const adds = ways.map(() => [] as number[]);
  const cpus = ways.map(() => [] as number[]);
  for (let i = 0; i < SEQUENTIAL; i++) {
    for (const w of turns(i)) {
      const before = await cpu.ms();
      adds[w].push(await timed(() => ways[w].add(seq[w][i])));
      await settle(50);
      cpus[w].push(await cpu.ms() - before);
    }
  }
  const dels = ways.map(() => [] as number[]);
  for (let i = 0; i < SEQUENTIAL; i++) {
    for (const w of turns(i)) dels[w].push(await timed(() => ways[w].del(seq[w][i])));
  }
  for (const p of seq.flat()) await lab.removePodNetns(p);

  const atOnce = ways.map(() => ({} as Record<string, { wall: number[]; cpu: number[] }>));
  for (const n of AT_ONCE) {
    for (let round = 0; round < AT_ONCE_ROUNDS; round++) {
      for (const w of turns(round)) {
        const group = await pods(lab, n);
        const before = await cpu.ms();
        const wall = await timed(async () => {
          await Promise.all(group.map((p) => ways[w].add(p)));
        });
        await settle(200);
        const figures = atOnce[w][n] ??= { wall: [], cpu: [] };
        figures.wall.push(wall);
        figures.cpu.push((await cpu.ms() - before) / n);
        if (n === Math.max(...AT_ONCE) && round === 0 && ways[w].name.startsWith("strongswan")) {
          daemonPss = await podDaemonPssKiB(group.length);
        }
        await Promise.all(group.map((p) => ways[w].del(p)));
        for (const p of group) await lab.removePodNetns(p);
      }
    }
  }
  return ways.map((_, w) => ({
    addP50: percentile(adds[w], 0.5),
    addP95: percentile(adds[w], 0.95),
    delP50: percentile(dels[w], 0.5),
    delP95: percentile(dels[w], 0.95),
    cpuPerAdd: percentile(cpus[w], 0.5),
    atOnce: Object.fromEntries(
      AT_ONCE.map((n) => [n, {
        wallMs: percentile(atOnce[w][n].wall, 0.5),
        cpuPerPodMs: percentile(atOnce[w][n].cpu, 0.5),
      }]),
    ),
  }));
}

let daemonPss = 0;

/** Average PSS of the pod daemons now running (all on this machine: the bench's own). */
async function podDaemonPssKiB(expected: number): Promise<number> {
  let total = 0;
  let count = 0;
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const environ = await Deno.readTextFile(`/proc/${e.name}/environ`);
      if (!environ.includes("STRONGSWAN_CONF=/var/lib/cni/strongswan/")) continue;
      const roll = await Deno.readTextFile(`/proc/${e.name}/smaps_rollup`);
      total += Number(/^Pss:\s+(\d+)/m.exec(roll)![1]);
      count++;
    } catch {
      // Gone, or not readable.
    }
  }
  if (count !== expected) console.error(`note: found ${count} pod daemons, expected ${expected}`);
  return total / Math.max(count, 1);
}

/** The plugin's own peak RSS during one ADD (GNU time, around the executable or `deno run`). */
async function pluginPeakRssKiB(lab: Lab): Promise<number> {
  const [pod] = await pods(lab, 1);
  const wrapped = join(lab.cniPath[0], "strongswan-timed");
  await Deno.writeTextFile(
    wrapped,
    `#!/bin/sh\nexec /usr/bin/time -f %M -o ${lab.dir}/peak-rss ${
      lab.cniPath[0]
    }/strongswan "$@"\n`,
    { mode: 0o755 },
  );
  const out = await lab.exec(pod, "ADD", lab.config(1), { type: "strongswan-timed" });
  if (out.code !== 0) throw new Error(out.stdout);
  const kib = Number((await Deno.readTextFile(join(lab.dir, "peak-rss"))).trim());
  await lab.del(pod);
  return kib;
}

const cpu = await cpuMeter();
const lab = await Lab.create({ nodes: 1 });
const [plugin, byHand] = [ours(lab), floor(lab)];
try {
  // Warm caches (Deno's code cache, the datapath probe) outside the measurements.
  for (const way of [plugin, byHand]) {
    const [p] = await pods(lab, 1);
    await way.add(p);
    await way.del(p);
  }
  console.log(
    `measuring: ${SEQUENTIAL} pods one at a time, then ${
      AT_ONCE.join(", ")
    } at once (medians of ${AT_ONCE_ROUNDS} rounds), the two ways in turn`,
  );
  const [us, base] = await measureWays(lab, [plugin, byHand]);
  const peakRss = await pluginPeakRssKiB(lab);

  const rows: [string, number, number, string, string][] = [
    ["ADD p50, one at a time (ms)", us.addP50, base.addP50, "<= 0.8", ""],
    ["ADD p95, one at a time (ms)", us.addP95, base.addP95, "", ""],
    ["DEL p50, one at a time (ms)", us.delP50, base.delP50, "", ""],
    ["DEL p95, one at a time (ms)", us.delP95, base.delP95, "", ""],
    ["machine CPU per ADD, one at a time (ms)", us.cpuPerAdd, base.cpuPerAdd, "<= 0.8", ""],
    ...AT_ONCE.map((n): [string, number, number, string, string] => [
      `${n} ADDs at once, wall (ms)`,
      us.atOnce[n].wallMs,
      base.atOnce[n].wallMs,
      n === 30 ? "<= 0.8" : "",
      "",
    ]),
    ...AT_ONCE.map((n): [string, number, number, string, string] => [
      `${n} ADDs at once, machine CPU per pod (ms)`,
      us.atOnce[n].cpuPerPodMs,
      base.atOnce[n].cpuPerPodMs,
      n === 30 ? "<= 0.8" : "",
      "",
    ]),
  ];
  const fmt = (v: number) => v.toFixed(0);
  const lines = [
    `${"".padEnd(44)}${"plugin".padStart(9)}${"floor".padStart(9)}${"ratio".padStart(8)}  goal`,
    ...rows.map(([what, a, b, goal]) =>
      `${what.padEnd(44)}${fmt(a).padStart(9)}${fmt(b).padStart(9)}${
        (a / b).toFixed(2).padStart(8)
      }  ${goal}`
    ),
    `${"pod daemon PSS with 30 pods up (KiB)".padEnd(44)}${fmt(daemonPss).padStart(9)}${
      "".padStart(17)
    }  <= 2048`,
    `${"the plugin's own peak RSS (KiB)".padEnd(44)}${fmt(peakRss).padStart(9)}`,
    `machine CPU: ${cpu.what}`,
  ];
  console.log(lines.join("\n"));
  const model = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
  const result = {
    machine: { cpu: model, cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    plugin: us,
    floor: base,
    ratios: Object.fromEntries(rows.map(([what, a, b]) => [what, a / b])),
    podDaemonPssKiB: daemonPss,
    pluginPeakRssKiB: peakRss,
    cpuMeasured: cpu.what,
  };
  await Deno.mkdir("dist", { recursive: true });
  await Deno.writeTextFile("dist/bench.json", JSON.stringify(result, null, 2));
  console.log("wrote dist/bench.json");
} finally {
  await byHand.cleanup();
  await lab.cleanup();
  await cpu.close();
}
