/**
 * GC (CNI 1.1): remove the attachments of this network that the runtime no
 * longer knows, and whatever a killed ADD left without a record.
 */

import type { CniEnv } from "../cni/env.ts";
import type { Attachment } from "../cni/skel.ts";
import type { NetConf } from "../config/load.ts";
import { log } from "../log.ts";
import { deleteVeth } from "../net/links.ts";
import { removeMasquerade } from "../net/masq.ts";
import { namesOfStateDir } from "../net/names.ts";
import { listStateDirs, removeStateDir, staleTempDirs } from "../state.ts";
import { detach } from "./del.ts";
import { teardownDaemon } from "./teardown.ts";

/**
 * A state directory without a readable record: its daemon (found by its
 * settings), veth and masquerade chain are named after the directory and
 * go; its IPAM lease, keyed by a container ID nobody recorded, cannot.
 */
async function removeOrphan(dir: string): Promise<void> {
  const names = namesOfStateDir(dir);
  if (!names) return;
  log.warn(`GC: ${dir} has no state record; removing its daemon, veth and rules`);
  await teardownDaemon(dir);
  await Promise.allSettled([deleteVeth(names.hostVeth), removeMasquerade(names.chain)]);
}

export async function cmdGc(env: CniEnv, conf: NetConf, valid: Attachment[]): Promise<void> {
  const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
  for (const { dir, state } of listStateDirs()) {
    if (!state) {
      await removeOrphan(dir);
      continue;
    }
    if (state.network !== conf.name) continue;
    if (keep.has(`${state.containerId}\0${state.ifname}`)) continue;
    // The recorded netns may be gone by now; detach copes with that.
    await detach(env, conf, {
      containerId: state.containerId,
      ifname: state.ifname,
      netns: state.netns,
    });
  }
  for (const tmp of staleTempDirs()) removeStateDir(tmp);
}
