/** The hub's strongswan.conf when it runs as its own daemon (`server-config --out`). */

import { charonConf, type DaemonFiles, pluginList } from "../ipsec/config.ts";
import { dhcpPluginLines, HUB_CHARON_SETTINGS, type HubSettings } from "./settings.ts";

export function hubStrongswanConf(hub: HubSettings, files: DaemonFiles): string {
  return charonConf("Hub settings, written by `strongswan server-config`.", {
    load: pluginList(hub.datapath, hub.leaseServer ? ["dhcp"] : []),
    files,
    settings: HUB_CHARON_SETTINGS,
    plugins: hub.leaseServer ? dhcpPluginLines(hub.leaseServer) : [],
  });
}
