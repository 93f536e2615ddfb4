/**
 * One hub of an active/standby pair: keepalived (VRRP) moves the floating
 * serverIP to whichever hub is active. Pods and nodes keep using serverIP;
 * nothing on them changes when the hub does.
 */

import type { NetConf } from "../config/load.ts";
import { interfaceNameProblem } from "../cni/env.ts";
import { formatIPv4, parseIPv4 } from "../net/cidr.ts";
import { safePath } from "../ipsec/config.ts";
import { hubAddressing } from "./addressing.ts";

export interface PairSettings {
  /** The hub's LAN interface, which carries serverIP while the hub is active. */
  interface: string;
  /** VRRP virtual router id, the same on both hubs (1-255). */
  routerId: number;
  /** Higher starts as the active hub (1-254). */
  priority: number;
  /** The other hub's LAN address, for unicast VRRP where multicast does not pass. */
  peer?: string;
  /** This hub's own LAN address (needed with peer). */
  self?: string;
}

/** The VRRP advertisement interval: a standby takes over ~3.6 s after the active hub falls silent. */
export const ADVERT_INTERVAL_S = 1;

/** Why the pair settings cannot be used (pure). */
export function pairProblem(pair: PairSettings): string | undefined {
  const ifProblem = interfaceNameProblem(pair.interface);
  if (ifProblem) return `--interface ${ifProblem}`;
  if (!Number.isInteger(pair.routerId) || pair.routerId < 1 || pair.routerId > 255) {
    return "--router-id must be a whole number from 1 to 255";
  }
  if (!Number.isInteger(pair.priority) || pair.priority < 1 || pair.priority > 254) {
    return "--priority must be a whole number from 1 to 254";
  }
  if ((pair.peer === undefined) !== (pair.self === undefined)) {
    return "--peer and --self go together (unicast VRRP needs both addresses)";
  }
  for (const a of [pair.peer, pair.self]) {
    if (a !== undefined && parseIPv4(a) === undefined) return `${a} is not an IPv4 address`;
  }
  return undefined;
}

/** keepalived's name for an instance: letters, digits and '_' only. */
function instanceName(role: string, network: string): string {
  return `strongswan_${role}_${network.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

const ip = (a: string) => formatIPv4(parseIPv4(a)!);

/** One VRRP instance: a floating address (and routes) on whichever member is MASTER. */
function vrrpInstance(
  header: string,
  name: string,
  pair: PairSettings,
  address: string,
  preempt: "never" | { delaySeconds: number },
  routes: string[],
  notifyMaster?: string,
): string {
  const problem = pairProblem(pair);
  if (problem) throw new Error(problem);
  const unicast = pair.peer
    ? `  unicast_src_ip ${ip(pair.self!)}\n  unicast_peer {\n    ${ip(pair.peer)}\n  }\n`
    : "";
  const election = preempt === "never"
    ? "  state BACKUP\n  nopreempt\n"
    : `  state BACKUP\n  preempt_delay ${preempt.delaySeconds}\n`;
  const virtualRoutes = routes.length
    ? `  virtual_routes {\n${routes.map((r) => `    ${r}\n`).join("")}  }\n`
    : "";
  const notify = notifyMaster ? `  notify_master "${notifyMaster}"\n` : "";
  return `${header}
vrrp_instance ${name} {
${election}  interface ${pair.interface}
  virtual_router_id ${pair.routerId}
  priority ${pair.priority}
  advert_int ${ADVERT_INTERVAL_S}
${unicast}  virtual_ipaddress {
    ${ip(address)}/32 dev ${pair.interface}
  }
${virtualRoutes}${notify}}
`;
}

/**
 * keepalived.conf for one hub of the pair. Both start as BACKUP with
 * nopreempt, so a hub that comes back does not take serverIP back (a second
 * outage). The route to the lease server (source: the hub's own
 * virtualSubnet address, the DHCP relay's giaddr) exists only on the active
 * hub, so a standby's leftover SAs can never release the leases pods now
 * hold on the active one: its DHCP packets carry a giaddr no range matches.
 */
export function keepalivedConf(conf: NetConf, pair: PairSettings, leaseServer: string): string {
  const { hubAddress } = hubAddressing(conf.vpn);
  return vrrpInstance(
    `# One hub of the active/standby pair of CNI network "${conf.name}",\n# written by \`strongswan server-config\`.`,
    instanceName("hub", conf.name),
    pair,
    conf.vpn.serverIP,
    "never",
    [`${ip(leaseServer)}/32 dev ${pair.interface} src ${hubAddress}`],
  );
}

/**
 * keepalived.conf for one lease server of a Kea pair: the address the hubs
 * relay to follows Kea's primary. Unlike the hubs this one preempts: in
 * hot-standby only the primary answers while both run, so the address must
 * go back to it once it is back, after a delay that lets Kea sync its leases.
 */
export function leaseKeepalivedConf(
  conf: NetConf,
  pair: PairSettings,
  leaseAddress: string,
  keaPidFile: string,
): string {
  // Kea's raw sockets accept only the addresses it saw when (re)configured: reload it when
  // the address arrives. A fixed command; the path was checked (safePath).
  const reload = `/bin/sh -c 'kill -HUP $(cat ${safePath(keaPidFile)})'`;
  return vrrpInstance(
    `# One lease server of the Kea pair of CNI network "${conf.name}",\n# written by \`strongswan lease-server-config\`.`,
    instanceName("leases", conf.name),
    pair,
    leaseAddress,
    { delaySeconds: KEA_SYNC_DELAY_S },
    [],
    reload,
  );
}

/** How long a returning Kea primary gets to sync its leases before the address goes back to it. */
export const KEA_SYNC_DELAY_S = 10;
