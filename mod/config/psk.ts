/**
 * The PSK, inline or from vpn.pskFile. The file is opened once and the
 * opened file is what is checked: a regular file (never a symlink), owned by
 * root, readable by nobody else, in PSK_DIR, whose directories only root can
 * change. Each refusal says exactly why.
 */

import { CniError, Code } from "../cni/errors.ts";
import { directoryProblem } from "../fs.ts";
import { readMessage } from "../io.ts";
import type { Vpn } from "./load.ts";
import { PSK_DIR } from "./schema.ts";
import { Secret } from "./secret.ts";

/** A PSK longer than this is not a PSK. */
const MAX_PSK_BYTES = 4096;

function refused(file: string, why: string, details = ""): CniError {
  return new CniError(Code.InvalidConfig, `vpn.pskFile ${file} ${why}`, details);
}

/** Why the opened PSK file may not be used (pure): before is lstat of the path, opened fstat of the file. */
export function fileProblem(before: Deno.FileInfo, opened: Deno.FileInfo): string | undefined {
  if (before.isSymlink) return "is a symlink; point pskFile at the file itself";
  if (!opened.isFile) return "is not a regular file";
  if (before.ino !== opened.ino || before.dev !== opened.dev) {
    return "was replaced while it was being opened";
  }
  if (opened.uid !== null && opened.uid !== 0) return `is owned by uid ${opened.uid}, not root`;
  if (opened.mode !== null && (opened.mode & 0o077) !== 0) {
    return `is readable by group or others (mode ${
      (opened.mode & 0o777).toString(8).padStart(4, "0")
    }); chmod 600 it`;
  }
  if (opened.size > MAX_PSK_BYTES) return `is larger than ${MAX_PSK_BYTES} bytes`;
  return undefined;
}

function ancestors(dir: string): string[] {
  const parts = dir.split("/").filter((p) => p);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join("/")}`);
}

/** Reads and checks the PSK file (see the module comment). */
export async function readPskFile(file: string, dir = PSK_DIR): Promise<Secret> {
  for (const d of ancestors(dir)) {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(d);
    } catch (err) {
      throw refused(file, `cannot be read: ${d} ${describeFsError(err)}`);
    }
    const problem = directoryProblem(d, info);
    if (problem) throw refused(file, `cannot be trusted: ${problem}`);
  }
  let before: Deno.FileInfo;
  try {
    before = Deno.lstatSync(file);
  } catch (err) {
    throw refused(file, `cannot be read: it ${describeFsError(err)}`);
  }
  if (before.isSymlink) throw refused(file, fileProblem(before, before)!);
  let handle: Deno.FsFile;
  try {
    handle = Deno.openSync(file, { read: true });
  } catch (err) {
    throw refused(file, `cannot be read: it ${describeFsError(err)}`);
  }
  try {
    const problem = fileProblem(before, handle.statSync());
    if (problem) throw refused(file, problem);
    const bytes = await readMessage(handle, MAX_PSK_BYTES);
    if (typeof bytes === "string") throw refused(file, `is larger than ${MAX_PSK_BYTES} bytes`);
    const psk = new TextDecoder().decode(bytes).trim();
    if (psk === "") throw refused(file, "is empty");
    return new Secret(psk);
  } finally {
    handle.close();
  }
}

function describeFsError(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "does not exist";
  if (err instanceof Deno.errors.PermissionDenied) return "is not readable by this user";
  return `gave an error: ${(err as Error).message}`;
}

/** The PSK, inline or from pskFile (read only when ADD or server-config needs it). */
export async function readPsk(vpn: Vpn): Promise<Secret> {
  return vpn.psk ?? await readPskFile(vpn.pskFile!);
}
