/**
 * The hub as the distribution's service (`server-config --install`): files
 * where Debian's packages read them, one renderer per file. strongSwan is
 * charon-systemd's strongswan.service (strongswan.conf with
 * strongswan.d/*.conf, then `swanctl --load-all` of swanctl/conf.d/*.conf).
 */

import type { NetConf } from "../config/load.ts";
import { hubAddressing } from "./addressing.ts";
import { dhcpPluginLines, HUB_CHARON_SETTINGS, type HubSettings } from "./settings.ts";

/** Where each file goes, relative to the root (/ on a real hub). */
export const SERVICE_FILES = {
  strongswan: "etc/strongswan.d/strongswan-cni-hub.conf",
  swanctl: "etc/swanctl/conf.d/strongswan-cni.conf",
  sysctl: "etc/sysctl.d/90-strongswan-cni-hub.conf",
  systemd: "etc/systemd/system/strongswan.service.d/strongswan-cni.conf",
  keepalived: "etc/keepalived/strongswan-cni.conf",
  keepalivedMain: "etc/keepalived/keepalived.conf",
  dnsmasq: "etc/dnsmasq.d/strongswan-cni.conf",
} as const;

/**
 * strongSwan's settings for the hub. In strongswan.d/ itself, not
 * strongswan.d/charon/: Debian's strongswan.conf includes charon/*.conf
 * inside charon.plugins, and these also set charon's own options; files
 * here are read after the packages' plugin files, so these win. Debian's
 * kernel-libipsec.conf says `load = no`; loaded with a priority above the
 * default, it comes before kernel-netlink, so the SAs go to it, not XFRM.
 */
export function hubStrongswanDropIn(conf: NetConf, hub: HubSettings): string {
  const plugins = [
    ...(hub.datapath === "userspace"
      ? ["kernel-libipsec {", "  load = 2", "  allow_peer_ts = yes", "}"]
      : []),
    ...(hub.leaseServer
      ? ["dhcp {", "  load = yes", ...dhcpPluginLines(hub.leaseServer).slice(1, -1), "}"]
      : []),
  ];
  return `# Hub for CNI network "${conf.name}", written by \`strongswan server-config --install\`.
charon {
${HUB_CHARON_SETTINGS.map((l) => `  ${l}\n`).join("")}  plugins {
${plugins.map((l) => `    ${l}\n`).join("")}  }
}
`;
}

export function hubSysctlConf(conf: NetConf): string {
  return `# Hub for CNI network "${conf.name}", written by \`strongswan server-config --install\`.
net.ipv4.ip_forward = 1
# Pod-to-pod traffic leaves by the way it came: no redirects.
net.ipv4.conf.all.send_redirects = 0
`;
}

/**
 * Before strongSwan starts, on every boot: the hub's own virtualSubnet
 * address on lo, and (a single hub with a lease server) the route to it
 * with that address as source. In a pair that route is keepalived's.
 */
export function hubSystemdDropIn(conf: NetConf, hub: HubSettings): string {
  const { hubAddress } = hubAddressing(conf.vpn);
  const commands = [
    `/sbin/ip addr replace ${hubAddress}/32 dev lo`,
    ...(hub.leaseServer && !hub.pair
      ? [`/sbin/ip route replace ${hub.leaseServer}/32 dev ${hub.interface} src ${hubAddress}`]
      : []),
  ];
  return `# Hub for CNI network "${conf.name}", written by \`strongswan server-config --install\`.
[Service]
${commands.map((c) => `ExecStartPre=${c}\n`).join("")}`;
}

/** keepalived.conf when the host has none: it only includes ours. */
export function keepalivedMainConf(): string {
  return `# Written by \`strongswan server-config --install\`; add other instances below.
include /${SERVICE_FILES.keepalived}
`;
}
