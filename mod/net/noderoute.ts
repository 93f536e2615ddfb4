/** The node's route to the pods' virtual IPs: via the hub, so node-to-pod traffic enters the tunnel there. */

import { CniError, Code } from "../cni/errors.ts";
import { inNetns, run } from "../exec.ts";

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

/**
 * kernel-libipsec puts the virtual IP on its TUN device; the pod's interface
 * is where it belongs. Added there before it leaves ipsec0, so the tunnel's
 * routes (which use it as source) stay.
 */
export async function moveVirtualIp(netns: string, ifname: string, vip: string): Promise<void> {
  try {
    await run(inNetns(netns, ["ip", "-batch", "-"]), {
      stdin: [`addr add ${vip}/32 dev ${ifname}`, `addr del ${vip}/32 dev ipsec0`].join("\n"),
    });
  } catch (err) {
    throw new CniError(
      Code.LinkFailed,
      `cannot move virtual IP ${vip} to ${ifname}`,
      (err as Error).message,
    );
  }
}
