/** The node's route to the pods' virtual IPs: via the hub, so node-to-pod traffic enters the tunnel there. */

import { CniError, Code } from "../cni/errors.ts";
import { run } from "../exec.ts";

/** The `ip route replace` argv, or undefined when this node is the hub (pure). */
export function planNodeRoute(
  virtualSubnet: string,
  serverIP: string,
  routeToServer: { type?: string; gateway?: string },
): string[] | undefined {
  if (routeToServer.type === "local") return undefined;
  return ["ip", "route", "replace", virtualSubnet, "via", routeToServer.gateway ?? serverIP];
}

export async function ensureNodeRoute(virtualSubnet: string, serverIP: string): Promise<void> {
  try {
    const { stdout } = await run(["ip", "-j", "route", "get", serverIP]);
    const plan = planNodeRoute(virtualSubnet, serverIP, JSON.parse(stdout)[0] ?? {});
    if (plan) await run(plan);
  } catch (err) {
    throw new CniError(
      Code.LinkFailed,
      `cannot route ${virtualSubnet} via hub ${serverIP} on the node`,
      (err as Error).message,
    );
  }
}
