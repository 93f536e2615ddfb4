/** What `server-config` is told about one hub, beyond the network config. */

import type { ResolvedDatapath } from "../ipsec/config.ts";
import type { PairSettings } from "./keepalived.ts";

export interface HubSettings {
  datapath: ResolvedDatapath;
  /**
   * The DHCP lease server pods' addresses come from (strongSwan's dhcp
   * plugin relays to it); absent: the hub's in-memory pool, which forgets
   * every lease when the hub restarts.
   */
  leaseServer?: string;
  /** One hub of an active/standby pair sharing serverIP (keepalived); needs a lease server. */
  pair?: PairSettings;
  /** The hub's LAN interface (a pair's VRRP, the route to the lease server). */
  interface?: string;
}

/**
 * The hub's dead peer detection: a pod that vanished without a DELETE is
 * given up after HUB_DPD_DELAY of silence and 2+3.6+6.5+11.7 s (~24 s) of
 * retransmits, so its address is free within a minute (measured: 54 s).
 */
export const HUB_DPD_DELAY = "30s";

/**
 * The hub's charon settings. Retransmits: see HUB_DPD_DELAY. Every pod of a
 * node reaches the hub from the node's address (masqueraded), and
 * strongSwan's per-address limits on half-open IKE_SAs (cookies from 3,
 * dropping from 5) hit pods of a node starting together. Each dropped pod
 * waited 1.5 s to retransmit, and so did some asked for a cookie: a pod's
 * charon can drop the answer to its cookie-bearing request ("ignoring
 * request with ID 0, already processing"). The limits are now beyond a
 * burst of Kubernetes' default 110 pods per node; past them a flood still
 * has to prove its source address, and then is cut off.
 */
export const HUB_CHARON_SETTINGS = [
  "retransmit_tries = 3",
  "retransmit_timeout = 2.0",
  "retransmit_base = 1.8",
  "cookie_threshold = 500",
  "cookie_threshold_ip = 200",
  "block_threshold = 250",
];

/** The dhcp plugin's settings: relay to the lease server, one lease per pod identity, replies to port 67. */
export function dhcpPluginLines(leaseServer: string): string[] {
  return [
    "dhcp {",
    `  server = ${leaseServer}`,
    "  identity_lease = yes",
    "  use_server_port = yes",
    "}",
  ];
}
