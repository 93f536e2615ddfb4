/**
 * How the hub uses virtualSubnet (pure): it keeps one address for itself
 * (on lo: kernel-libipsec needs an address inside its traffic selector, and
 * it is the DHCP relay's giaddr), `vpn.hubAddress` when the config names it
 * (the first or the last usable one), else the first, and hands out the rest
 * as one range.
 */

import { broadcastOf, formatIPv4, maskOf, networkOf, parseCidr, parseIPv4 } from "../net/cidr.ts";

export interface HubAddressing {
  hubAddress: string;
  /** The pods' addresses: first to last. */
  first: string;
  last: string;
  netmask: string;
  /** first-last, as swanctl.conf's pool takes it. */
  pool: string;
}

export function hubAddressing(vpn: { virtualSubnet: string; hubAddress?: string }): HubAddressing {
  const c = parseCidr(vpn.virtualSubnet)!;
  const low = networkOf(c) + 1;
  const high = broadcastOf(c) - 1;
  const hub = vpn.hubAddress === undefined ? low : parseIPv4(vpn.hubAddress)!;
  const first = formatIPv4(hub === low ? low + 1 : low);
  const last = formatIPv4(hub === high ? high - 1 : high);
  return {
    hubAddress: formatIPv4(hub),
    first,
    last,
    netmask: formatIPv4(maskOf(c.prefix)),
    pool: `${first}-${last}`,
  };
}
