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
 * node reaches the hub from the node's address (masqueraded), so the
 * per-address limit of half-open IKE_SAs (strongSwan's default: 5) dropped
 * pods of a node starting at once: each dropped one waited 1.5 s to
 * retransmit (seen in half of the 30-at-once runs, 3.1 s instead of 1.7 s).
 * The limit now exceeds Kubernetes' default of 110 pods per node; cookies
 * (from 10 half-open) still make a flood prove its source address.
 */
export const HUB_CHARON_SETTINGS = [
  "retransmit_tries = 3",
  "retransmit_timeout = 2.0",
  "retransmit_base = 1.8",
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
