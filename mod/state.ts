/** What ADD made for one attachment, kept in its root-only state directory for DEL, CHECK and GC. */

import type { DaemonId } from "./ipsec/daemon.ts";
import { STATE_ROOT } from "./net/names.ts";

/** What DEL, CHECK and GC cannot derive from the container ID: the rest of the names are. */
export interface AttachmentState {
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  daemon?: DaemonId;
}

const STATE_FILE = "state.json";

export async function ensureStateRoot(root = STATE_ROOT): Promise<void> {
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
}

/** Written atomically, 0600. */
export async function writeState(dir: string, state: AttachmentState): Promise<void> {
  const tmp = `${dir}/${STATE_FILE}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await Deno.rename(tmp, `${dir}/${STATE_FILE}`);
}

export async function readState(dir: string): Promise<AttachmentState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/${STATE_FILE}`));
  } catch {
    return undefined;
  }
}

/** Every attachment directory under the root, with its state if readable. */
export async function listStateDirs(
  root = STATE_ROOT,
): Promise<{ dir: string; state?: AttachmentState }[]> {
  const out: { dir: string; state?: AttachmentState }[] = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (!entry.isDirectory) continue;
      const dir = `${root}/${entry.name}`;
      out.push({ dir, state: await readState(dir) });
    }
  } catch {
    // No root yet: nothing was ever added.
  }
  return out;
}

export async function removeStateDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}
