/**
 * Writing files others read (runtimes, strongSwan, the next plugin run):
 * never half a file, never through a symlink, never briefly readable by
 * others.
 */

export type WriteOutcome = "created" | "replaced" | "unchanged";

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? new TextEncoder().encode(data) : data;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Writes path atomically with exactly mode: a temp file beside it, created
 * exclusively (O_EXCL: an existing name or symlink is never followed) with
 * that mode, then renamed over path (a symlink at path is replaced, not
 * followed). Reports "unchanged", writing nothing, when path already is a
 * regular file with these bytes and this mode.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode: number,
): Promise<WriteOutcome> {
  const bytes = bytesOf(data);
  let existed = false;
  try {
    const info = await Deno.lstat(path);
    existed = true;
    if (info.isFile && ((info.mode ?? 0) & 0o7777) === mode) {
      if (sameBytes(await Deno.readFile(path), bytes)) return "unchanged";
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: mode & 0o700 });
  try {
    for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
    // Created owner-only (umask can only narrow it); widened, if asked, once the content is in.
    await file.syncData();
    await Deno.chmod(tmp, mode);
  } catch (err) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  file.close();
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  return existed ? "replaced" : "created";
}

/** Creates dir (and parents) with mode if missing; an existing symlink or non-directory is an error. */
export async function ensureDirectory(dir: string, mode: number): Promise<void> {
  try {
    const info = await Deno.lstat(dir);
    if (!info.isDirectory) throw new Error(`${dir} exists and is not a directory`);
    return;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dir, { recursive: true, mode });
}

/**
 * Why a directory cannot be trusted to hold what only root may place there
 * (a PSK, the node agent's socket), or undefined (pure).
 */
export function directoryProblem(dir: string, info: Deno.FileInfo): string | undefined {
  if (info.isSymlink) return `${dir} is a symlink`;
  if (!info.isDirectory) return `${dir} is not a directory`;
  if (info.uid !== null && info.uid !== 0) return `${dir} is not owned by root`;
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    return `${dir} is writable by group or others`;
  }
  return undefined;
}

/** The directory a path is in ("/a/b" -> "/a", "/a" -> "/"). */
export function parentDir(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  return slash <= 0 ? "/" : trimmed.slice(0, slash);
}
