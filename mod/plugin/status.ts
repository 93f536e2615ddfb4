/**
 * STATUS (CNI 1.1): can this node take an ADD? Everything ADD will exec must
 * be present, and the node must have a route to the hub.
 */

import type { CniEnv } from "../cni/env.ts";
import { CniError, Code } from "../cni/errors.ts";
import type { NetConf } from "../config/load.ts";
import { CHARON } from "../ipsec/daemon.ts";
import { commandPath, run } from "../exec.ts";
import { findPlugin } from "../net/ipam.ts";

const STRONGSWAN_PLUGINS = "/usr/lib/ipsec/plugins";
const REQUIRED_TOOLS = ["ip", "nsenter", "unshare", "iptables-restore", "iptables-save"];

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

async function onPath(tool: string): Promise<boolean> {
  const dirs = commandPath().split(":");
  for (const dir of dirs) if (await isExecutable(`${dir}/${tool}`)) return true;
  return false;
}

export async function cmdStatus(env: CniEnv, conf: NetConf): Promise<void> {
  const missing: string[] = [];
  if (!(await isExecutable(CHARON))) missing.push(`${CHARON} (Debian package strongswan-charon)`);
  if (conf.vpn.datapath !== "kernel") {
    try {
      await Deno.stat(`${STRONGSWAN_PLUGINS}/libstrongswan-kernel-libipsec.so`);
    } catch {
      missing.push("strongSwan's kernel-libipsec plugin (Debian package libcharon-extra-plugins)");
    }
  }
  for (const tool of REQUIRED_TOOLS) if (!(await onPath(tool))) missing.push(tool);
  try {
    await findPlugin(conf.ipam.type, env.path);
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
