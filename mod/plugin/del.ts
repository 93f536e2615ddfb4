/**
 * DEL: the IPsec half first (IKE_SA ended so the hub frees the address,
 * daemon stopped, its directory removed), then the bridge half. Idempotent:
 * whatever is already gone (netns, veth, rules, state) is not an error.
 */

import type { AttachmentTarget, CniEnv } from "../cni/env.ts";
import type { NetConf } from "../config/load.ts";
import { removeTunnelGuard } from "../ipsec/guard.ts";
import { ipamCall } from "../net/ipam.ts";
import { deleteVeth } from "../net/links.ts";
import { removeMasquerade } from "../net/masq.ts";
import { attachmentNames } from "../net/names.ts";
import { readState } from "../state.ts";
import { teardownDaemon } from "./teardown.ts";

/** Removes everything one attachment has; used by DEL and by GC for stale attachments. */
export async function detach(
  env: CniEnv,
  conf: NetConf,
  target: AttachmentTarget,
): Promise<void> {
  const names = await attachmentNames(target.containerId, target.ifname);
  const state = await readState(names.stateDir);
  await teardownDaemon(names.stateDir, state?.daemon);
  const settled = await Promise.allSettled([
    ipamCall("DEL", target, env, conf),
    deleteVeth(names.hostVeth),
    removeMasquerade(names.chain),
    removeTunnelGuard(target.netns, conf),
  ]);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

export async function cmdDel(env: CniEnv, conf: NetConf): Promise<void> {
  await detach(env, conf, { containerId: env.containerId, ifname: env.ifname, netns: env.netns });
}
