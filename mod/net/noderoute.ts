/** The node's route to the pods' virtual IPs: via the hub, so node-to-pod traffic enters the tunnel there. */

import { CniError, Code } from "../cni/errors.ts";
import { ExecError, run, tryRun } from "../exec.ts";
import { maskOf, networkOf, parseCidr } from "./cidr.ts";

/** A /proc/net/route field (the kernel's u32, printed in host order: little endian here) as a number. */
function routeField(hex: string): number {
  const n = parseInt(hex, 16);
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

/** Whether the main table has a route for exactly this prefix, from /proc/net/route (pure). */
export function routeListed(procNetRoute: string, cidr: string): boolean {
  const c = parseCidr(cidr)!;
  return procNetRoute.split("\n").slice(1).some((line) => {
    const f = line.trim().split(/\s+/);
    return f.length >= 8 && routeField(f[1]) === networkOf(c) &&
      routeField(f[7]) === maskOf(c.prefix);
  });
}

/**
 * The `ip route add` argv, or undefined when this node is the hub (pure).
 * `add`, not `replace`: a route the operator made for the subnet is theirs.
 */
export function planNodeRoute(
  virtualSubnet: string,
  serverIP: string,
  routeToServer: { type?: string; gateway?: string },
): string[] | undefined {
  if (routeToServer.type === "local") return undefined;
  return ["ip", "route", "add", virtualSubnet, "via", routeToServer.gateway ?? serverIP];
}

/**
 * Adds the route unless there is one; returns the argv that added it, so it
 * can be undone. Once a node has it, this costs a file read, no exec.
 */
export async function ensureNodeRoute(
  virtualSubnet: string,
  serverIP: string,
): Promise<string[] | undefined> {
  try {
    if (routeListed(Deno.readTextFileSync("/proc/net/route"), virtualSubnet)) return undefined;
    const { stdout } = await run(["ip", "-j", "route", "get", serverIP]);
    const plan = planNodeRoute(virtualSubnet, serverIP, JSON.parse(stdout)[0] ?? {});
    if (!plan) return undefined;
    try {
      await run(plan);
      return plan;
    } catch (err) {
      if (err instanceof ExecError && /File exists/.test(err.stderr)) return undefined;
      throw err;
    }
  } catch (err) {
    throw new CniError(
      Code.LinkFailed,
      `cannot route ${virtualSubnet} via hub ${serverIP} on the node`,
      (err as Error).message,
    );
  }
}

/** Removes the route ensureNodeRoute added (best-effort). */
export async function removeNodeRoute(added: string[]): Promise<void> {
  await tryRun(["ip", "route", "del", ...added.slice(3)]);
}
