/**
 * How the hub uses virtualSubnet (pure): it keeps the first address for
 * itself (on lo: kernel-libipsec needs an address inside its traffic
 * selector, and it is the DHCP relay's giaddr) and hands out the rest.
 */

import { broadcastOf, formatIPv4, maskOf, networkOf, parseCidr } from "../net/cidr.ts";

export interface HubAddressing {
  hubAddress: string;
  /** The pods' addresses: first to last. */
  first: string;
  last: string;
  netmask: string;
  /** first-last, as swanctl.conf's pool takes it. */
  pool: string;
}

export function hubAddressing(virtualSubnet: string): HubAddressing {
  const c = parseCidr(virtualSubnet)!;
  const hub = networkOf(c) + 1;
  const first = formatIPv4(hub + 1);
  const last = formatIPv4(broadcastOf(c) - 1);
  return {
    hubAddress: formatIPv4(hub),
    first,
    last,
    netmask: formatIPv4(maskOf(c.prefix)),
    pool: `${first}-${last}`,
  };
}
