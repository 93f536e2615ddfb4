/** The node's route to the pods' virtual IPs: via the hub, so node-to-pod traffic enters the tunnel there. */

import { CniError, Code } from "../cni/errors.ts";
import { ExecError, run, tryRun } from "../exec.ts";

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

/** Adds the route unless there is one; returns the argv that added it, so it can be undone. */
export async function ensureNodeRoute(
  virtualSubnet: string,
  serverIP: string,
): Promise<string[] | undefined> {
  try {
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
