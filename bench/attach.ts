/**
 * `deno task bench`, part one (root): the plugin's ADD and DEL, served by
 * the node agent and alone, against the floor, in turn in one run on one
 * node with a hub. The floor is the
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

/** Pods one at a time per way, in turns. */
const SEQUENTIAL = 20;
const AT_ONCE = [1, 10, 30];
/** Issue 9's goals: agent/floor ratios, and the pod daemon's PSS. */
const GOAL_RATIO = 0.8;
const GOAL_PSS_KIB = 2048;
/** Rounds of each at-once size per way; the median counts. */
const AT_ONCE_ROUNDS = 5;

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
  /** ADDs (and DELs) before the measurements. */
  warmUp: number;
  add(pod: Pod): Promise<void>;
  del(pod: Pod): Promise<void>;
  /** Ends whatever the way started and still runs. */
  cleanup(): Promise<void>;
}

/**
 * A node's agent serves pods for days: it is measured warm, its JavaScript
 * compiled. Its CPU per ADD falls from ~12.5 to ~7.5 ms over its first ~50
 * ADDs (measured); every other way starts afresh each time.
 */
const AGENT_WARM_UP = 50;
/** Enough for Deno's code cache, the datapath probe and the page cache. */
const WARM_UP = 3;

/** The plugin as a runtime runs it: served by the node agent, or (type strongswan-alone) not. */
function ours(lab: Lab, name: string, type: string, warmUp: number): Way {
  const call = async (pod: Pod, command: "ADD" | "DEL") => {
    const out = await lab.exec(pod, command, lab.config(1), { type });
    if (out.code !== 0) throw new Error(`${command} failed: ${out.stdout}`);
  };
  return {
    name,
    warmUp,
    add: (pod) => call(pod, "ADD"),
    del: (pod) => call(pod, "DEL"),
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
    warmUp: WARM_UP,
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
      const daemon = launchDaemon(pod.netns, paths, POD_DAEMON_ENV, "tmpfs");
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

/** Each round, every way in turn, each round starting with the next: drift on a noisy machine hits all. */
const turns = (round: number, ways: number) =>
  Array.from({ length: ways }, (_, i) => (i + round) % ways);

/**
 * The ways, interleaved: one ADD each in turn (then one DEL each), and
 * each at-once size in rounds that alternate the ways. Each figure's CPU is
 * the cgroup's (or machine's) CPU over that ADD's window, settling included.
 */
async function measureWays(lab: Lab, ways: Way[]): Promise<Figures[]> {
  const seq = await Promise.all(ways.map(() => pods(lab, SEQUENTIAL)));
  const adds = ways.map(() => [] as number[]);
  const cpus = ways.map(() => [] as number[]);
  for (let i = 0; i < SEQUENTIAL; i++) {
    for (const w of turns(i, ways.length)) {
      const before = await cpu.ms();
      adds[w].push(await timed(() => ways[w].add(seq[w][i])));
      await settle(50);
      cpus[w].push(await cpu.ms() - before);
    }
  }
  const dels = ways.map(() => [] as number[]);
  for (let i = 0; i < SEQUENTIAL; i++) {
    for (const w of turns(i, ways.length)) dels[w].push(await timed(() => ways[w].del(seq[w][i])));
  }
  for (const p of seq.flat()) await lab.removePodNetns(p);

  const atOnce = ways.map(() => ({} as Record<string, { wall: number[]; cpu: number[] }>));
  for (const n of AT_ONCE) {
    for (let round = 0; round < AT_ONCE_ROUNDS; round++) {
      for (const w of turns(round, ways.length)) {
        const group = await pods(lab, n);
        const before = await cpu.ms();
        const wall = await timed(async () => {
          await Promise.all(group.map((p) => ways[w].add(p)));
        });
        await settle(200);
        const figures = atOnce[w][n] ??= { wall: [], cpu: [] };
        figures.wall.push(wall);
        figures.cpu.push((await cpu.ms() - before) / n);
        if (n === Math.max(...AT_ONCE) && round === 0 && w === 0) {
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

/** The plugin's process's peak RSS during one ADD (GNU time, around the file runtimes exec). */
async function pluginPeakRssKiB(lab: Lab, type: string): Promise<number> {
  const [pod] = await pods(lab, 1);
  const wrapped = join(lab.cniPath[0], `${type}-timed`);
  await Deno.writeTextFile(
    wrapped,
    `#!/bin/sh\nexec /usr/bin/time -f %M -o ${lab.dir}/peak-rss ${lab.cniPath[0]}/${type} "$@"\n`,
    { mode: 0o755 },
  );
  const out = await lab.exec(pod, "ADD", lab.config(1), { type: `${type}-timed` });
  if (out.code !== 0) throw new Error(out.stdout);
  const kib = Number((await Deno.readTextFile(join(lab.dir, "peak-rss"))).trim());
  await lab.del(pod);
  return kib;
}

/** A process's peak RSS so far (VmHWM). */
async function peakRssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmHWM:\s+(\d+)/m.exec(status)![1]);
}

const cpu = await cpuMeter();
const lab = await Lab.create({ nodes: 1 });
// The same plugin file, told not to use the node agent.
await lab.installScript(
  "strongswan-alone",
  `#!/bin/sh\nSTRONGSWAN_CNI_AGENT=off exec ${join(lab.cniPath[0], "strongswan")} "$@"\n`,
);
const ways = [
  ours(lab, "strongswan plugin, node agent", "strongswan", AGENT_WARM_UP),
  ours(lab, "strongswan plugin alone", "strongswan-alone", WARM_UP),
  floor(lab),
];
try {
  await lab.startAgent(1);
  // Warm up outside the measurements: caches, and the agent's JIT.
  for (const way of ways) {
    for (let i = 0; i < way.warmUp; i++) {
      const [p] = await pods(lab, 1);
      await way.add(p);
      await way.del(p);
      await lab.removePodNetns(p);
    }
  }
  console.log(
    `measuring: ${SEQUENTIAL} pods one at a time, then ${
      AT_ONCE.join(", ")
    } at once (medians of ${AT_ONCE_ROUNDS} rounds), the ways in turn`,
  );
  const [agent, alone, base] = await measureWays(lab, ways);
  const shimRss = await pluginPeakRssKiB(lab, "strongswan");
  const aloneRss = await pluginPeakRssKiB(lab, "strongswan-alone");
  const agentRss = await peakRssKiB(lab.agent(1)!.pid);

  /** A figure, the three ways' values, and its goal as the most agent/floor may be. */
  type Row = [string, number, number, number, number | undefined];
  const rows: Row[] = [
    ["ADD p50, one at a time (ms)", agent.addP50, alone.addP50, base.addP50, GOAL_RATIO],
    ["ADD p95, one at a time (ms)", agent.addP95, alone.addP95, base.addP95, undefined],
    ["DEL p50, one at a time (ms)", agent.delP50, alone.delP50, base.delP50, undefined],
    ["DEL p95, one at a time (ms)", agent.delP95, alone.delP95, base.delP95, undefined],
    [
      "machine CPU per ADD, one at a time (ms)",
      agent.cpuPerAdd,
      alone.cpuPerAdd,
      base.cpuPerAdd,
      GOAL_RATIO,
    ],
    ...AT_ONCE.map((n): Row => [
      `${n} ADDs at once, wall (ms)`,
      agent.atOnce[n].wallMs,
      alone.atOnce[n].wallMs,
      base.atOnce[n].wallMs,
      n === 30 ? GOAL_RATIO : undefined,
    ]),
    ...AT_ONCE.map((n): Row => [
      `${n} ADDs at once, machine CPU per pod (ms)`,
      agent.atOnce[n].cpuPerPodMs,
      alone.atOnce[n].cpuPerPodMs,
      base.atOnce[n].cpuPerPodMs,
      n === 30 ? GOAL_RATIO : undefined,
    ]),
  ];
  const fmt = (v: number) => v.toFixed(0);
  const ratio = (a: number, b: number) => (a / b).toFixed(2).padStart(8);
  // Judged on the exact value: 0.802 prints as 0.80 and misses.
  const verdict = (value: number, most: number) => `<= ${most} ${value <= most ? "met" : "missed"}`;
  const lines = [
    "agent: calls served by the node agent (strongswan agent); alone: no agent",
    `${"".padEnd(44)}${"agent".padStart(8)}${"alone".padStart(8)}${"floor".padStart(8)}${
      "agent/fl".padStart(9)
    }${"alone/fl".padStart(9)}  goal`,
    ...rows.map(([what, a, b, f, goal]) =>
      `${what.padEnd(44)}${fmt(a).padStart(8)}${fmt(b).padStart(8)}${fmt(f).padStart(8)} ${
        ratio(a, f)
      } ${ratio(b, f)}  ${goal === undefined ? "" : verdict(a / f, goal)}`
    ),
    `${"pod daemon PSS with 30 pods up (KiB)".padEnd(44)}${fmt(daemonPss).padStart(8)}${
      "".padStart(34)
    }  ${verdict(daemonPss, GOAL_PSS_KIB)}`,
    `${"the plugin's process, peak RSS (KiB)".padEnd(44)}${fmt(shimRss).padStart(8)}${
      fmt(aloneRss).padStart(8)
    }`,
    `${"the node agent, peak RSS (KiB)".padEnd(44)}${fmt(agentRss).padStart(8)}`,
    `machine CPU: ${cpu.what}`,
  ];
  console.log(lines.join("\n"));
  const model = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
  const result = {
    machine: { cpu: model, cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
    plugin: agent,
    pluginAlone: alone,
    floor: base,
    ratios: Object.fromEntries(rows.map(([what, a, _, f]) => [what, a / f])),
    ratiosAlone: Object.fromEntries(rows.map(([what, _, b, f]) => [what, b / f])),
    goals: Object.fromEntries([
      ...rows.filter(([, , , , goal]) => goal !== undefined).map(([what, a, _, f, goal]) => [
        what,
        { atMost: goal, value: a / f, met: a / f <= goal! },
      ]),
      ["pod daemon PSS with 30 pods up (KiB)", {
        atMost: GOAL_PSS_KIB,
        value: daemonPss,
        met: daemonPss <= GOAL_PSS_KIB,
      }],
    ]),
    podDaemonPssKiB: daemonPss,
    pluginPeakRssKiB: shimRss,
    pluginAlonePeakRssKiB: aloneRss,
    agentPeakRssKiB: agentRss,
    cpuMeasured: cpu.what,
  };
  await Deno.mkdir("dist", { recursive: true });
  await Deno.writeTextFile("dist/bench.json", JSON.stringify(result, null, 2));
  console.log("wrote dist/bench.json");
} finally {
  for (const way of ways) await way.cleanup();
  await lab.cleanup();
  await cpu.close();
}
