/**
 * One lease server of a Kea pair (Debian's kea-dhcp4-server): the pods'
 * leases replicated between two servers by Kea's HA hook in hot-standby
 * mode, over the hook's own HTTP listener (no control agent). The hubs relay
 * to one address that keepalived keeps on the primary while it lives.
 */

import type { NetConf } from "../config/load.ts";
import { formatIPv4, parseIPv4 } from "../net/cidr.ts";
import { hubAddressing } from "./addressing.ts";

export const KEA_HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks";
export const KEA_HA_PORT = 8005;
export const DEFAULT_KEA_LEASE_FILE = "/var/lib/kea/strongswan-cni-leases4.csv";
/** Kea's "infinite" lifetime: the strongSwan dhcp plugin never renews. */
const INFINITE = 4294967295;

export interface KeaServer {
  role: "primary" | "standby";
  /** This server's LAN address (its HA listener), and the partner's. */
  self: string;
  peer: string;
  interface: string;
  leaseFile: string;
  /** Where Kea logs ("stdout" for the journal under systemd). */
  logOutput: string;
}

const name = (address: string) => `lease-${formatIPv4(parseIPv4(address)!).replaceAll(".", "-")}`;

/** kea-dhcp4.conf (JSON, printed from parsed values only). */
export function keaConf(conf: NetConf, server: KeaServer): string {
  const { first, last, hubAddress } = hubAddressing(conf.vpn);
  const peer = (address: string, role: string) => ({
    name: name(address),
    url: `http://${formatIPv4(parseIPv4(address)!)}:${KEA_HA_PORT}/`,
    role,
    "auto-failover": true,
  });
  const other = server.role === "primary" ? "standby" : "primary";
  const doc = {
    Dhcp4: {
      // Raw sockets: requests to the floating address arrive whichever server holds it.
      "interfaces-config": { interfaces: [server.interface], "dhcp-socket-type": "raw" },
      "lease-database": { type: "memfile", persist: true, name: server.leaseFile },
      "multi-threading": {
        "enable-multi-threading": true,
        "thread-pool-size": 2,
        "packet-queue-size": 64,
      },
      "valid-lifetime": INFINITE,
      authoritative: true,
      "hooks-libraries": [
        { library: `${KEA_HOOKS}/libdhcp_lease_cmds.so` },
        {
          library: `${KEA_HOOKS}/libdhcp_ha.so`,
          parameters: {
            "high-availability": [{
              "this-server-name": name(server.self),
              mode: "hot-standby",
              // The partner is taken for down ~3 s after it stops answering.
              "heartbeat-delay": 1000,
              "max-response-delay": 3000,
              "max-ack-delay": 2000,
              "max-unacked-clients": 0,
              "multi-threading": {
                "enable-multi-threading": true,
                "http-dedicated-listener": true,
                "http-listener-threads": 1,
                "http-client-threads": 1,
              },
              peers: [peer(server.self, server.role), peer(server.peer, other)],
            }],
          },
        },
      ],
      subnet4: [{
        id: 1,
        subnet: conf.vpn.virtualSubnet,
        pools: [{ pool: `${first} - ${last}` }],
        // Requests come relayed by the hubs, from their own virtualSubnet address.
        relay: { "ip-addresses": [hubAddress] },
      }],
      loggers: [{
        name: "kea-dhcp4",
        output_options: [{ output: server.logOutput }],
        severity: "INFO",
      }],
    },
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
