/**
 * The CPU time of everything the benchmark starts: the plugin, its
 * children, the daemons, the hub. The benchmark moves itself into a cgroup
 * (v2) of its own, which whatever it starts inherits, and reads the
 * cgroup's usage: what other tenants of the machine do (and the hypervisor
 * steals) does not count. Without cgroup v2 it falls back to the whole
 * machine's busy time from /proc/stat, and says so.
 */

import { join } from "node:path";

export interface CpuMeter {
  /** What is measured, for the table. */
  what: string;
  /** CPU time so far, in ms. */
  ms(): Promise<number>;
  /** Leaves and removes the cgroup (once everything started in it has ended). */
  close(): Promise<void>;
}

async function cgroup2Mount(): Promise<string | undefined> {
  const mounts = await Deno.readTextFile("/proc/self/mounts");
  return mounts.split("\n").map((l) => l.split(" ")).find((f) => f[2] === "cgroup2")?.[1];
}

/** Busy time of the whole machine (USER_HZ 100). */
async function machineMs(): Promise<number> {
  const fields = (await Deno.readTextFile("/proc/stat")).split("\n")[0].trim().split(/\s+/)
    .slice(1).map(Number);
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + steal) * 10;
}

export async function cpuMeter(): Promise<CpuMeter> {
  const mount = await cgroup2Mount();
  if (mount) {
    const self = (await Deno.readTextFile("/proc/self/cgroup")).split("\n")
      .find((l) => l.startsWith("0::"))?.slice(3);
    const dir = join(mount, `strongswan-bench-${Deno.pid}`);
    try {
      await Deno.mkdir(dir);
      await Deno.writeTextFile(join(dir, "cgroup.procs"), `${Deno.pid}\n`);
      return {
        what: "CPU of every process the benchmark started (its cgroup)",
        async ms() {
          const stat = await Deno.readTextFile(join(dir, "cpu.stat"));
          return Number(/^usage_usec (\d+)/m.exec(stat)![1]) / 1000;
        },
        async close() {
          await Deno.writeTextFile(join(mount, self ?? "/", "cgroup.procs"), `${Deno.pid}\n`);
          // Daemons that ended may wait a moment for their parent, pid 1, to reap them.
          for (let i = 0; i < 100; i++) {
            try {
              await Deno.remove(dir);
              return;
            } catch {
              await new Promise((r) => setTimeout(r, 100));
            }
          }
          console.error(`note: ${dir} still holds processes; remove it once they end`);
        },
      };
    } catch (err) {
      await Deno.remove(dir).catch(() => {});
      console.error(`note: no cgroup of its own (${(err as Error).message}): whole-machine CPU`);
    }
  } else {
    console.error("note: no cgroup v2 here: CPU is the whole machine's busy time (/proc/stat)");
  }
  return {
    what: "the whole machine's busy time (/proc/stat)",
    ms: machineMs,
    close: () => Promise.resolve(),
  };
}
