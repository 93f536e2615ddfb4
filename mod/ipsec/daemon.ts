/**
 * One charon per pod attachment, inside the pod's netns, outliving the plugin.
 * charon always writes /run/charon.pid, so each daemon gets a private mount
 * namespace with a /run of its own: a hub's own directory (its vici socket
 * may be there), a pod's a fresh tmpfs. The namespace is a slave of the
 * node's, so netns files unmounted on the node are released here too.
 */

import { CniError, Code } from "../cni/errors.ts";
import { BUSYBOX, inNetns, programPath, spawnDaemon } from "../exec.ts";
import { ViciClient } from "./vici.ts";
import { sleep } from "../timer.ts";
import { procStat } from "../proc.ts";

export const CHARON = "/usr/lib/ipsec/charon";
/**
 * charon drops root for this user once its sockets and TUN device exist,
 * keeping only CAP_NET_ADMIN. Debian's strongswan-starter (a dependency of
 * strongswan-charon) creates it; its primary group is nogroup.
 */
export const DAEMON_USER = "strongswan";
export const DAEMON_GROUP = "nogroup";

/** The uid of a user in /etc/passwd, if there is one. */
export function uidOf(user: string): number | undefined {
  try {
    const line = Deno.readTextFileSync("/etc/passwd").split("\n")
      .find((l) => l.startsWith(`${user}:`));
    return line ? Number(line.split(":")[2]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How a daemon gets its private /run: "bind" mounts paths.runDir there (a
 * hub's, kept across restarts); "tmpfs" mounts a fresh one (a pod's: only
 * the pid file, so no stale one after a crash or reboot can stop charon,
 * and no file on disk to create: 0.03-0.8 ms of CPU each under /var/lib/cni
 * on this machine's disk, by the day; the mount is cheaper than the bind, measured).
 */
export type PrivateRun = "bind" | "tmpfs";

/**
 * Make what charon writes root-only, mount its /run (busybox's mount), then
 * become charon. Fixed scripts: the directory and binary come in as
 * arguments, never spliced in.
 */
const PRIVATE_RUN_SCRIPTS: Record<PrivateRun, string> = {
  bind: 'umask 077 && mount --bind "$1" /run && exec "$2"',
  tmpfs: "umask 077 && mount -t tmpfs -o mode=0700,size=64k,nr_inodes=16,nosuid,nodev,noexec " +
    'strongswan-cni /run && exec "$1"',
};

/** What the daemon's pid runs as: busybox (setsid, nsenter, unshare, sh) while it starts, then charon. */
const LAUNCH_CHAIN = [BUSYBOX, "charon"];

export interface DaemonPaths {
  dir: string;
  /** charon's /run where it is bind-mounted (a hub's; a pod's is a tmpfs). */
  runDir: string;
  confFile: string;
  viciSocket: string;
  logFile: string;
}

export interface DaemonId {
  pid: number;
  /** From /proc/PID/stat: with the pid, names one process for the life of the boot. */
  startTime: string;
  /** The boot it ran in: after a reboot the same pid and start time can name another process. */
  bootId: string;
}

let cachedBootId: string | undefined;

export function bootId(): string {
  cachedBootId ??= Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  return cachedBootId;
}

export function daemonPaths(dir: string): DaemonPaths {
  return {
    dir,
    runDir: `${dir}/run`,
    confFile: `${dir}/strongswan.conf`,
    viciSocket: `${dir}/charon.vici`,
    logFile: `${dir}/charon.log`,
  };
}

/** charon with its own /run, in a private mount namespace of the current one. */
export function privateRunArgv(paths: DaemonPaths, privateRun: PrivateRun = "bind"): string[] {
  return [
    BUSYBOX,
    "unshare",
    "--mount",
    "--propagation",
    "slave",
    "--",
    programPath(BUSYBOX),
    "sh",
    "-c",
    PRIVATE_RUN_SCRIPTS[privateRun],
    "strongswan-cni",
    ...(privateRun === "bind" ? [paths.runDir] : []),
    CHARON,
  ];
}

export function daemonArgv(netns: string, paths: DaemonPaths, privateRun: PrivateRun): string[] {
  return inNetns(netns, privateRunArgv(paths, privateRun));
}

/** The environment entry that marks every process of one attachment's daemon, from launch to charon. */
function settingsMarker(paths: DaemonPaths): string {
  return `STRONGSWAN_CONF=${paths.confFile}`;
}

function isLaunchChain(pid: number): boolean {
  try {
    const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
    return LAUNCH_CHAIN.includes(exe.split("/").pop()!);
  } catch {
    return false;
  }
}

/** Whether the pid still is the daemon we started (same boot, not a reused pid, not a zombie). */
export function isOurDaemon(id: DaemonId): boolean {
  if (id.bootId !== bootId()) return false;
  const stat = procStat(id.pid);
  if (!stat || stat.state === "Z" || stat.startTime !== id.startTime) return false;
  return isLaunchChain(id.pid);
}

/**
 * The daemon of a state directory whose record has no pid (ADD records it
 * once done, so one killed midway left none): the root process, at any stage of its
 * launch, whose environment names this directory's settings.
 */
export function findDaemon(paths: DaemonPaths): DaemonId | undefined {
  const marker = settingsMarker(paths);
  const owners = new Set([0, uidOf(DAEMON_USER)]);
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    try {
      const environ = Deno.readTextFileSync(`/proc/${pid}/environ`);
      if (!environ.split("\0").includes(marker)) continue;
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      // The launcher runs as root, charon as DAEMON_USER: only root can make either.
      if (!owners.has(uid) || !isLaunchChain(pid)) continue;
      const id = daemonId(pid);
      if (id) return id;
    } catch {
      // Gone meanwhile, or a kernel thread.
    }
  }
  return undefined;
}

export interface StartedDaemon {
  id: DaemonId;
  /** Resolves when the daemon exits while this process still watches it. */
  exited: Promise<Deno.CommandStatus>;
}

/** The pid's identity (pid, start time, boot), if it is running. */
export function daemonId(pid: number): DaemonId | undefined {
  const stat = procStat(pid);
  return stat && stat.state !== "Z"
    ? { pid, startTime: stat.startTime, bootId: bootId() }
    : undefined;
}

/**
 * glibc's malloc for a pod's daemon: one arena and no per-thread caches.
 * Otherwise each of charon's 16 threads gets an arena and a cache it barely
 * uses: ~110 KiB of PSS per pod (2091 -> 1978 KiB each with 30 pods up).
 */
export const POD_DAEMON_ENV = {
  GLIBC_TUNABLES: "glibc.malloc.arena_max=1:glibc.malloc.tcache_count=0",
};

/**
 * Starts charon on the settings already in paths.confFile, in its own
 * directory (not the runtime's); returns at once (readiness: connectVici).
 */
export function launchDaemon(
  netns: string,
  paths: DaemonPaths,
  env: Record<string, string> = {},
  privateRun: PrivateRun = "bind",
): StartedDaemon {
  if (privateRun === "bind") Deno.mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  let child: Deno.ChildProcess;
  try {
    child = spawnDaemon(
      daemonArgv(netns, paths, privateRun),
      { ...env, STRONGSWAN_CONF: paths.confFile },
      paths.dir,
    );
  } catch (err) {
    throw new CniError(Code.DaemonFailed, "cannot start charon", (err as Error).message);
  }
  // The plugin may exit while the daemon runs on.
  child.unref();
  const stat = procStat(child.pid);
  return {
    id: { pid: child.pid, startTime: stat?.startTime ?? "", bootId: bootId() },
    exited: child.status,
  };
}

/** Writes the settings (0600) and starts the daemon. */
export function startDaemon(
  netns: string,
  paths: DaemonPaths,
  strongswanConf: string,
): StartedDaemon {
  Deno.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  Deno.writeTextFileSync(paths.confFile, strongswanConf, { mode: 0o600 });
  return launchDaemon(netns, paths, POD_DAEMON_ENV, "tmpfs");
}

async function logTail(paths: DaemonPaths, lines = 5): Promise<string> {
  try {
    const text = await Deno.readTextFile(paths.logFile);
    return text.trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/**
 * Connects to the daemon's vici socket as soon as it accepts (the socket file
 * alone proves nothing: charon can leave a stale one behind).
 */
export async function connectVici(
  paths: DaemonPaths,
  daemon: StartedDaemon,
  timeoutMs: number,
): Promise<ViciClient> {
  let exited = false;
  daemon.exited.then(() => exited = true, () => exited = true);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await ViciClient.connect(paths.viciSocket);
    } catch {
      // Not listening yet.
    }
    if (exited) {
      throw new CniError(
        Code.DaemonFailed,
        "charon exited while starting",
        await logTail(paths),
      );
    }
    if (Date.now() > deadline) {
      throw new CniError(
        Code.DaemonFailed,
        `charon did not open its vici socket within ${timeoutMs} ms`,
        await logTail(paths),
      );
    }
    await sleep(3);
  }
}

/**
 * Whether the process has finished exiting: gone, or its pid reused, or a
 * zombie with no thread left. Not "its exe link is unreadable" (the kernel
 * drops that before it closes the files), nor "the leader is a zombie"
 * (charon's other threads still hold its sockets then).
 */
function exited(id: DaemonId): boolean {
  const stat = procStat(id.pid);
  if (!stat || stat.startTime !== id.startTime) return true;
  if (stat.state !== "Z") return false;
  try {
    const status = Deno.readTextFileSync(`/proc/${id.pid}/status`);
    return Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1) <= 1;
  } catch {
    return true;
  }
}

async function waitGone(id: DaemonId, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(id)) return true;
    await sleep(10);
  }
  return exited(id);
}

/** Ends the daemon by its recorded pid, if that pid still is it; SIGKILL if SIGTERM is not enough. */
export async function stopDaemon(id: DaemonId, timeoutMs = 3000): Promise<void> {
  if (!isOurDaemon(id)) return;
  try {
    Deno.kill(id.pid, "SIGTERM");
  } catch {
    return;
  }
  if (await waitGone(id, timeoutMs)) return;
  try {
    Deno.kill(id.pid, "SIGKILL");
  } catch {
    return;
  }
  if (!(await waitGone(id, 1000))) {
    throw new CniError(Code.DaemonFailed, `charon (pid ${id.pid}) did not exit after SIGKILL`);
  }
}
