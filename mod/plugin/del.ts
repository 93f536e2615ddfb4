/**
 * DEL: the IKE_SA ended first (the hub frees the address), then the bridge
 * half and the guard rules, then the daemon stopped and its directory removed. Idempotent:
 * whatever is already gone (netns, veth, rules, state) is not an error.
 * Inside the pod's netns it touches only the namespace ADD used, and leaves
 * the guard rules while another attachment in that namespace needs them.
 */

import type { AttachmentTarget, CniEnv } from "../cni/env.ts";
import type { NetConf } from "../config/load.ts";
import { removeTunnelGuard } from "../ipsec/guard.ts";
import { ipamCall } from "../net/ipam.ts";
import { deleteVeth } from "../net/links.ts";
import { removeMasquerade, ruleComment } from "../net/masq.ts";
import { attachmentNames } from "../net/names.ts";
import { type AttachmentState, listStateDirs, netnsIdentity, readState } from "../state.ts";
import { teardownDaemon } from "./teardown.ts";

/** The path at which the attachment's own namespace still is, if any (CNI_NETNS first). */
function ownNetns(state: AttachmentState | undefined, given: string): string | undefined {
  if (!state?.netnsId) return undefined;
  for (const path of [given, state.netns]) {
    if (path && netnsIdentity(path) === state.netnsId) return path;
  }
  return undefined;
}

/**
 * Removes the guard rules from the attachment's namespace unless another
 * attachment's state names the same namespace (its rules are the same ones).
 */
export async function releaseTunnelGuard(
  dir: string,
  netnsId: string,
  netns: string,
  conf: NetConf,
): Promise<void> {
  const shared = listStateDirs().some((s) => s.dir !== dir && s.state?.netnsId === netnsId);
  if (!shared) await removeTunnelGuard(netns, conf);
}

/** Removes everything one attachment has; used by DEL and by GC for stale attachments. */
export async function detach(
  env: CniEnv,
  conf: NetConf,
  target: AttachmentTarget,
): Promise<void> {
  const names = await attachmentNames(target.containerId, target.ifname);
  const state = readState(names.stateDir);
  const netns = ownNetns(state, target.netns);
  const settled: PromiseSettledResult<unknown>[] = [];
  await teardownDaemon(names.stateDir, state?.daemon, async () => {
    settled.push(
      ...await Promise.allSettled([
        ipamCall("DEL", target, env, conf),
        deleteVeth(names.hostVeth),
        removeMasquerade(
          names.chain,
          conf.ipMasq && state?.podAddresses
            ? {
              podCidrs: state.podAddresses,
              comment: ruleComment(state.network, state.containerId),
            }
            : undefined,
        ),
        // Beside the veth, which takes the pod's way out with it (the order DEL always had).
        netns
          ? releaseTunnelGuard(names.stateDir, state!.netnsId!, netns, conf)
          : Promise.resolve(),
      ]),
    );
  });
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

export async function cmdDel(env: CniEnv, conf: NetConf): Promise<void> {
  await detach(env, conf, { containerId: env.containerId, ifname: env.ifname, netns: env.netns });
}
