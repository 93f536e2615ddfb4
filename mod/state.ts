/** What ADD made for one attachment, kept in its root-only state directory for DEL, CHECK, GC and status. */

import type { PodRef } from "./cni/env.ts";
import type { DaemonId } from "./ipsec/daemon.ts";
import { STATE_ROOT } from "./net/names.ts";

/** What DEL, CHECK, GC and status cannot derive from the container ID. */
export interface AttachmentState {
  network: string;
  containerId: string;
  ifname: string;
  netns: string;
  /**
   * The namespace's identity (device:inode) when ADD ran: a different
   * namespace later mounted at the same path is not this attachment's.
   */
  netnsId?: string;
  pod?: PodRef;
  identity: string;
  daemon?: DaemonId;
  /** From ADD's result, once it succeeded. */
  virtualIp?: string;
  podAddresses?: string[];
  addedAt?: string;
}

const STATE_FILE = "state.json";
/** A temp directory older than this is what an ADD killed at its very start left. */
export const STALE_TEMP_MS = 60_000;

export async function ensureStateRoot(root = STATE_ROOT): Promise<void> {
  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
}

/** Written atomically, 0600. */
export async function writeState(dir: string, state: AttachmentState): Promise<void> {
  const tmp = `${dir}/${STATE_FILE}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await Deno.rename(tmp, `${dir}/${STATE_FILE}`);
}

/**
 * Creates the attachment's directory (0700) with its state file already in
 * it: built under a temp name, then renamed into place, so a state directory
 * never exists without its record. Returns false if it already exists.
 */
export async function createStateDir(dir: string, state: AttachmentState): Promise<boolean> {
  const slash = dir.lastIndexOf("/");
  const tmp = `${dir.slice(0, slash)}/.${dir.slice(slash + 1)}.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  await Deno.mkdir(tmp, { mode: 0o700 });
  try {
    await writeState(tmp, state);
    try {
      await Deno.lstat(dir);
      return false;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    // rename(2) replaces only an empty directory: a racing ADD's fails here.
    await Deno.rename(tmp, dir);
    return true;
  } catch (err) {
    try {
      await Deno.lstat(dir);
      return false;
    } catch {
      throw err;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

export async function readState(dir: string): Promise<AttachmentState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/${STATE_FILE}`));
  } catch {
    return undefined;
  }
}

export interface StateDir {
  dir: string;
  state?: AttachmentState;
}

/** Every attachment directory under the root, with its state if readable. */
export async function listStateDirs(root = STATE_ROOT): Promise<StateDir[]> {
  const out: StateDir[] = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (!entry.isDirectory || entry.name.startsWith(".")) continue;
      const dir = `${root}/${entry.name}`;
      out.push({ dir, state: await readState(dir) });
    }
  } catch {
    // No root yet: nothing was ever added.
  }
  return out;
}

/** Temp directories of ADDs that were killed before their state directory existed (nothing runs for them). */
export async function staleTempDirs(root = STATE_ROOT, now = Date.now()): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (!entry.isDirectory || !entry.name.startsWith(".") || !entry.name.endsWith(".tmp")) {
        continue;
      }
      const dir = `${root}/${entry.name}`;
      const mtime = (await Deno.lstat(dir)).mtime?.getTime() ?? now;
      if (now - mtime > STALE_TEMP_MS) out.push(dir);
    }
  } catch {
    // No root yet.
  }
  return out;
}

export async function removeStateDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}

/** The identity of the namespace mounted at path now (device:inode), if any. */
export async function netnsIdentity(path: string): Promise<string | undefined> {
  if (path === "") return undefined;
  try {
    const info = await Deno.stat(path);
    return `${info.dev}:${info.ino}`;
  } catch {
    return undefined;
  }
}
