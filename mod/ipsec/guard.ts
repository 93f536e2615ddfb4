/**
 * Fail closed. The tunnel's routes (table 220, looked up by charon's rule at
 * priority 220) exist only while its SA does; without them the pod's traffic
 * to the tunnelled subnets would take the bridge's routes, unencrypted.
 * Policy rules right after charon's refuse that traffic whatever the main
 * table holds (an IPAM route of any prefix length cannot beat a rule), and
 * let charon's own packets (IKE and UDP-encapsulated ESP, marked) use the
 * main table, where a host route sends them to the hub via the bridge.
 */

import type { Route } from "../cni/result.ts";
import type { NetConf } from "../config/load.ts";
import { ipInNetns, tryRun } from "../exec.ts";
import { batchLine } from "../net/ipbatch.ts";
import { IKE_FWMARK } from "./config.ts";

/** Just after kernel-netlink's rule for table 220. */
const PREF_CHARON = 221;
const PREF_REFUSE = 222;

export interface TunnelGuard {
  /** `ip -batch` lines for the pod. */
  lines: string[];
  /** What the result reports of them: the route to the hub. */
  routes: Route[];
}

function ruleLines(conf: NetConf, verb: "add" | "del"): string[] {
  return [
    batchLine("rule", verb, "pref", PREF_CHARON, "fwmark", IKE_FWMARK, "lookup", "main"),
    ...[conf.vpn.virtualSubnet, conf.vpn.hostSubnet].map((dst) =>
      batchLine("rule", verb, "pref", PREF_REFUSE, "to", dst, "unreachable")
    ),
  ];
}

export function planTunnelGuard(
  conf: NetConf,
  ifname: string,
  gateway: string | undefined,
): TunnelGuard {
  const lines = ruleLines(conf, "add");
  const routes: Route[] = [];
  if (gateway) {
    const hub = `${conf.vpn.serverIP}/32`;
    // replace: a second attachment in the same pod may route to the same hub.
    lines.push(batchLine("route", "replace", hub, "via", gateway, "dev", ifname));
    routes.push({ dst: hub, gw: gateway });
  }
  return { lines, routes };
}

/**
 * What DEL runs in the pod (with `ip -force -batch`: some may be gone). The
 * rules belong to no device, so removing the veth leaves them.
 */
export function planTunnelGuardRemoval(conf: NetConf): string[] {
  return ruleLines(conf, "del");
}

/** The rules CHECK expects in the pod, as `ip -j rule show` prints them. */
export function expectedGuardRules(conf: NetConf): { priority: number; what: string }[] {
  return [
    { priority: PREF_CHARON, what: `fwmark ${IKE_FWMARK} lookup main` },
    ...[conf.vpn.virtualSubnet, conf.vpn.hostSubnet].map((dst) => ({
      priority: PREF_REFUSE,
      what: `to ${dst} unreachable`,
    })),
  ];
}

/** Describes one rule of `ip -j rule show` the way expectedGuardRules does. */
export function describeRule(rule: Record<string, unknown>): string {
  if (rule.fwmark !== undefined) return `fwmark ${rule.fwmark} lookup ${rule.table}`;
  return `to ${rule.dst}/${rule.dstlen} ${rule.action ?? `lookup ${rule.table}`}`;
}

/** Best-effort: the pod's netns may be gone, and with it everything in it. */
export async function removeTunnelGuard(netns: string, conf: NetConf): Promise<void> {
  if (netns === "") return;
  await tryRun(ipInNetns(netns, ["-force", "-batch", "-"]), {
    stdin: planTunnelGuardRemoval(conf).join("\n"),
  });
}
