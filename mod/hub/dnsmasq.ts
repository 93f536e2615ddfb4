/**
 * The lease server's dnsmasq settings (Debian's dnsmasq-base): leases of
 * pods' virtual IPs, kept on disk, handed out per pod identity (the dhcp
 * plugin's client id), so a pod gets its address back from any hub.
 */

import type { NetConf } from "../config/load.ts";
import { safePath } from "../ipsec/config.ts";
import { hubAddressing } from "./addressing.ts";

export const DEFAULT_LEASE_FILE = "/var/lib/misc/strongswan-cni.leases";

export function dnsmasqConf(conf: NetConf, leaseFile = DEFAULT_LEASE_FILE): string {
  const { first, last, netmask } = hubAddressing(conf.vpn);
  return `# Lease server for CNI network "${conf.name}", written by \`strongswan server-config\`.
# Requests come relayed by the hub (giaddr: the hub's own address in ${conf.vpn.virtualSubnet});
# this host needs a route to ${conf.vpn.virtualSubnet} via the hub (${conf.vpn.serverIP}).
# No DNS.
port=0
# The strongSwan dhcp plugin never renews: leases are infinite, released when a pod's SA goes.
dhcp-range=${first},${last},${netmask},infinite
# Without it, every new address is pinged first (~3 s per ADD).
no-ping
dhcp-authoritative
dhcp-leasefile=${safePath(leaseFile)}
`;
}
