/**
 * Fail closed. The tunnel's routes (table 220) exist only while its SA does;
 * without them the pod's traffic to the tunnelled subnets would take the
 * bridge's default route, unencrypted. Unreachable routes for both subnets in
 * the pod's main table stop that, and a host route to the hub via the bridge
 * keeps IKE (marked past table 220) able to reach it.
 */

import type { Route } from "../cni/result.ts";
import type { NetConf } from "../config/load.ts";
import { inNetns, tryRun } from "../exec.ts";

export interface TunnelGuard {
  /** `ip -batch` lines for the pod. */
  lines: string[];
  /** What the result reports of them. */
  routes: Route[];
}

export function planTunnelGuard(
  conf: NetConf,
  ifname: string,
  gateway: string | undefined,
): TunnelGuard {
  const { virtualSubnet, hostSubnet, serverIP } = conf.vpn;
  const lines = [virtualSubnet, hostSubnet].map((dst) => `route replace unreachable ${dst}`);
  const routes: Route[] = [{ dst: virtualSubnet }, { dst: hostSubnet }];
  if (gateway) {
    lines.push(`route add ${serverIP}/32 via ${gateway} dev ${ifname}`);
    routes.push({ dst: `${serverIP}/32`, gw: gateway });
  }
  return { lines, routes };
}

/**
 * What DEL runs in the pod (with `ip -force -batch`, as either may be gone):
 * the unreachable routes belong to no device, so removing the veth leaves them.
 */
export function planTunnelGuardRemoval(conf: NetConf): string[] {
  return [conf.vpn.virtualSubnet, conf.vpn.hostSubnet].map((dst) => `route del unreachable ${dst}`);
}

/** Best-effort: the pod's netns may be gone, and with it everything in it. */
export async function removeTunnelGuard(netns: string, conf: NetConf): Promise<void> {
  if (netns === "") return;
  await tryRun(inNetns(netns, ["ip", "-force", "-batch", "-"]), {
    stdin: planTunnelGuardRemoval(conf).join("\n"),
  });
}
