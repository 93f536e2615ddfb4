/** GC (CNI 1.1): remove the attachments of this network that the runtime no longer knows. */

import type { CniEnv } from "../cni/env.ts";
import type { Attachment } from "../cni/skel.ts";
import type { NetConf } from "../config/load.ts";
import { listStateDirs } from "../state.ts";
import { detach } from "./del.ts";

export async function cmdGc(env: CniEnv, conf: NetConf, valid: Attachment[]): Promise<void> {
  const keep = new Set(valid.map((a) => `${a.containerID}\0${a.ifname}`));
  for (const { state } of await listStateDirs()) {
    if (!state || state.network !== conf.name) continue;
    if (keep.has(`${state.containerId}\0${state.ifname}`)) continue;
    // The recorded netns may be gone by now; detach copes with that.
    await detach(env, conf, {
      containerId: state.containerId,
      ifname: state.ifname,
      netns: state.netns,
    });
  }
}
