/**
 * What ADD made for one attachment, kept in its root-only state directory for DEL, CHECK, GC and status.
 *
 * These small local files are read and written synchronously, here and on
 * the rest of a command's path: the node agent serves calls on one thread,
 * and an async file op costs two thread switches to Deno's blocking pool,
 * more than the op itself (~2.9 ms of CPU per ADD, measured).
 */

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

export function ensureStateRoot(root = STATE_ROOT): void {
  Deno.mkdirSync(root, { recursive: true, mode: 0o700 });
}

/** Written atomically, 0600. */
export function writeState(dir: string, state: AttachmentState): void {
  const tmp = `${dir}/${STATE_FILE}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  Deno.renameSync(tmp, `${dir}/${STATE_FILE}`);
}

/**
 * Creates the attachment's directory (0700) with its state file already in
 * it: built under a temp name, then renamed into place, so a state directory
 * never exists without its record. Returns false if it already exists.
 */
export function createStateDir(dir: string, state: AttachmentState): boolean {
  const slash = dir.lastIndexOf("/");
  const tmp = `${dir.slice(0, slash)}/.${dir.slice(slash + 1)}.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  Deno.mkdirSync(tmp, { mode: 0o700 });
  try {
    writeState(tmp, state);
    try {
      Deno.lstatSync(dir);
      return false;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    // rename(2) replaces only an empty directory: a racing ADD's fails here.
    Deno.renameSync(tmp, dir);
    return true;
  } catch (err) {
    try {
      Deno.lstatSync(dir);
      return false;
    } catch {
      throw err;
    }
  } finally {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch {
      // Renamed into place.
    }
  }
}

export function readState(dir: string): AttachmentState | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(`${dir}/${STATE_FILE}`));
  } catch {
    return undefined;
  }
}

export interface StateDir {
  dir: string;
  state?: AttachmentState;
}

/** Every attachment directory under the root, with its state if readable. */
export function listStateDirs(root = STATE_ROOT): StateDir[] {
  const out: StateDir[] = [];
  try {
    for (const entry of Deno.readDirSync(root)) {
      if (!entry.isDirectory || entry.name.startsWith(".")) continue;
      const dir = `${root}/${entry.name}`;
      out.push({ dir, state: readState(dir) });
    }
  } catch {
    // No root yet: nothing was ever added.
  }
  return out;
}

/** Temp directories of ADDs that were killed before their state directory existed (nothing runs for them). */
export function staleTempDirs(root = STATE_ROOT, now = Date.now()): string[] {
  const out: string[] = [];
  try {
    for (const entry of Deno.readDirSync(root)) {
      if (!entry.isDirectory || !entry.name.startsWith(".") || !entry.name.endsWith(".tmp")) {
        continue;
      }
      const dir = `${root}/${entry.name}`;
      const mtime = Deno.lstatSync(dir).mtime?.getTime() ?? now;
      if (now - mtime > STALE_TEMP_MS) out.push(dir);
    }
  } catch {
    // No root yet.
  }
  return out;
}

export function removeStateDir(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** The identity of the namespace mounted at path now (device:inode), if any. */
export function netnsIdentity(path: string): string | undefined {
  if (path === "") return undefined;
  try {
    const info = Deno.statSync(path);
    return `${info.dev}:${info.ino}`;
  } catch {
    return undefined;
  }
}
