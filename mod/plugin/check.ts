/**
 * CHECK: the daemon runs and the CHILD_SA is established with the virtual IP
 * the result names (checked first: without them the tunnel's routes are gone
 * too); the guard rules are in place; against prevResult, the pod's
 * interface has its addresses and routes; the host veth is on the bridge.
 * Each finding names what is wrong.
 */

import type { CniEnv } from "../cni/env.ts";
import { CniError, Code } from "../cni/errors.ts";
import { decodeResult } from "../cni/result.ts";
import type { NetConf } from "../config/load.ts";
import { daemonPaths, isOurDaemon } from "../ipsec/daemon.ts";
import { describeRule, expectedGuardRules } from "../ipsec/guard.ts";
import { childInstalled, listSa } from "../ipsec/tunnel.ts";
import { ViciClient } from "../ipsec/vici.ts";
import { ipInNetns, run } from "../exec.ts";
import { addressOf } from "../net/cidr.ts";
import { ipamCall } from "../net/ipam.ts";
import { showLink } from "../net/links.ts";
import { attachmentNames } from "../net/names.ts";
import { readState } from "../state.ts";

function failed(msg: string): CniError {
  return new CniError(Code.CheckFailed, msg);
}

/** `ip -j route` prints the default route as "default" and host routes without /32. */
function routeKey(dst: string): string {
  return dst === "0.0.0.0/0" ? "default" : dst.endsWith("/32") ? dst.slice(0, -3) : dst;
}

/** The virtual IP the tunnel has now, or a CHECK failure saying why there is none. */
async function tunnelVirtualIp(viciSocket: string, conf: NetConf): Promise<string | undefined> {
  const client = await ViciClient.connect(viciSocket).catch((err) => {
    throw failed(`the strongSwan daemon does not answer on its vici socket: ${err.message}`);
  });
  try {
    const sa = await listSa(client).catch((err) => {
      throw failed(`the strongSwan daemon does not answer: ${err.message}`);
    });
    if (!sa || sa.state !== "ESTABLISHED" || !childInstalled(sa)) {
      throw failed(`the IPsec tunnel to hub ${conf.vpn.serverIP} is not established`);
    }
    const vips = sa["local-vips"];
    return Array.isArray(vips) ? vips[0] : undefined;
  } finally {
    client.close();
  }
}

export async function cmdCheck(env: CniEnv, conf: NetConf): Promise<void> {
  if (conf.prevResult === undefined) {
    throw new CniError(Code.InvalidConfig, "CHECK needs prevResult, the result of the ADD");
  }
  const prev = decodeResult(conf.prevResult, conf.cniVersion, "prevResult");
  const names = await attachmentNames(env.containerId, env.ifname);

  await ipamCall(
    "CHECK",
    { containerId: env.containerId, netns: env.netns, ifname: env.ifname },
    env,
    conf,
  );

  const state = readState(names.stateDir);
  if (!state?.daemon || !isOurDaemon(state.daemon)) {
    throw failed(`the strongSwan daemon of ${env.containerId}/${env.ifname} is not running`);
  }
  const vip = await tunnelVirtualIp(daemonPaths(names.stateDir).viciSocket, conf);
  const promised = prev.ips[0] ? addressOf(prev.ips[0].address) : undefined;
  if (promised && vip !== promised) {
    throw failed(
      `the tunnel's virtual IP is ${
        vip ?? "none"
      }, but the pod's address is ${promised}: the hub gave it another address after reconnecting`,
    );
  }

  const rules = JSON.parse(
    (await run(ipInNetns(env.netns, ["-j", "rule", "show"]))).stdout,
  ) as Record<string, unknown>[];
  const have = new Set(rules.map((r) => `${r.priority} ${describeRule(r)}`));
  for (const rule of expectedGuardRules(conf)) {
    if (!have.has(`${rule.priority} ${rule.what}`)) {
      throw failed(
        `the fail-closed rule "${rule.what}" (priority ${rule.priority}) is missing in ${env.netns}`,
      );
    }
  }

  const pod = await showLink(env.ifname, env.netns).catch(() => undefined);
  if (!pod) throw failed(`interface ${env.ifname} is missing in ${env.netns}`);
  const podIndex = prev.interfaces.findIndex((i) => i.sandbox !== undefined);
  const addresses = new Set((pod.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  for (const ip of prev.ips) {
    if (ip.interface !== undefined && ip.interface !== podIndex) continue;
    if (!addresses.has(ip.address)) throw failed(`${env.ifname} lacks address ${ip.address}`);
  }
  const { stdout } = await run(ipInNetns(env.netns, ["-j", "route", "show", "table", "all"]));
  const dsts = new Set((JSON.parse(stdout) as { dst: string }[]).map((r) => r.dst));
  for (const route of prev.routes) {
    if (!dsts.has(routeKey(route.dst))) {
      throw failed(`route to ${route.dst} is missing in ${env.netns}`);
    }
  }

  const veth = await showLink(names.hostVeth);
  if (!veth) throw failed(`host veth ${names.hostVeth} is missing`);
  if (veth.master !== conf.bridge) {
    throw failed(`host veth ${names.hostVeth} is not on bridge ${conf.bridge}`);
  }
}
