/**
 * STATUS (CNI 1.1): can this node take an ADD? Everything ADD will exec must
 * be present, and the node must have a route to the hub.
 */

import type { CniEnv } from "../cni/env.ts";
import { CniError, Code } from "../cni/errors.ts";
import type { NetConf } from "../config/load.ts";
import type { Datapath } from "../config/schema.ts";
import { pluginList } from "../ipsec/config.ts";
import { CHARON, DAEMON_USER, uidOf } from "../ipsec/daemon.ts";
import { BUSYBOX, findOnPath, isExecutable, run } from "../exec.ts";
import { findPlugin } from "../net/ipam.ts";

const STRONGSWAN_PLUGINS = "/usr/lib/ipsec/plugins";
/** The Debian package of each strongSwan plugin the daemon loads (the rest: libstrongswan). */
const PLUGIN_PACKAGES: Record<string, string> = {
  openssl: "libstrongswan-standard-plugins",
  "socket-default": "strongswan-libcharon",
  "kernel-libipsec": "libcharon-extra-plugins",
  vici: "strongswan-swanctl",
};
/** The programs ADD runs, with the Debian package of each. */
const REQUIRED_TOOLS: Record<string, string> = {
  ip: "iproute2",
  [BUSYBOX]: "busybox-static",
  "iptables-restore": "iptables",
  "iptables-save": "iptables",
};

/** The strongSwan plugin files a datapath needs, with the Debian package of each (pure). */
export function requiredPlugins(
  datapath: Datapath,
): { plugin: string; file: string; pkg: string }[] {
  // auto may pick either datapath; userspace's list holds kernel's.
  return pluginList(datapath === "kernel" ? "kernel" : "userspace").split(" ").map((plugin) => ({
    plugin,
    file: `${STRONGSWAN_PLUGINS}/libstrongswan-${plugin}.so`,
    pkg: PLUGIN_PACKAGES[plugin] ?? "libstrongswan",
  }));
}

export async function cmdStatus(env: CniEnv, conf: NetConf): Promise<void> {
  const missing: string[] = [];
  if (!isExecutable(CHARON)) missing.push(`${CHARON} (Debian package strongswan-charon)`);
  for (const { plugin, file, pkg } of requiredPlugins(conf.vpn.datapath)) {
    try {
      await Deno.stat(file);
    } catch {
      missing.push(`strongSwan's ${plugin} plugin (Debian package ${pkg})`);
    }
  }
  if (uidOf(DAEMON_USER) === undefined) {
    missing.push(
      `the ${DAEMON_USER} user the daemon drops root for (Debian package strongswan-starter)`,
    );
  }
  for (const [tool, pkg] of Object.entries(REQUIRED_TOOLS)) {
    if (!findOnPath(tool)) missing.push(`${tool} (Debian package ${pkg})`);
  }
  try {
    findPlugin(conf.ipam.type, env.path);
  } catch (err) {
    missing.push((err as Error).message);
  }
  if (missing.length > 0) {
    throw new CniError(
      Code.NotAvailable,
      `not ready for ADD: missing ${missing.join("; ")}`,
    );
  }
  // The cheap part of "can the hub be reached": a route to it. Asking it needs IKE.
  try {
    await run(["ip", "route", "get", conf.vpn.serverIP]);
  } catch (err) {
    throw new CniError(
      Code.NotAvailable,
      `not ready for ADD: this node has no route to hub ${conf.vpn.serverIP}`,
      (err as Error).message,
    );
  }
}
