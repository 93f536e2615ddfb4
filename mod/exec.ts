/**
 * The only place that runs commands: argv arrays (never a shell), a deadline
 * that ends the command and what it started, bounded output, and errors that
 * carry the argv and stderr.
 */

import { log } from "./log.ts";
import { after } from "./timer.ts";
import { processTree, sameProcess } from "./proc.ts";

export const DEFAULT_TIMEOUT_MS = 10_000;
/** After SIGTERM at the deadline, how long the command has before SIGKILL. */
const KILL_GRACE_MS = 500;
/** After SIGKILL, how long a pipe may stay open (something the command started holds it) before we stop reading. */
const PIPE_GRACE_MS = 200;
/** Bytes kept of each of stdout and stderr unless the caller allows more. */
export const DEFAULT_OUTPUT_LIMIT = 4 << 20;

export interface RunOptions {
  /**
   * Written to the command's stdin, then closed. A promise is written once
   * it resolves: the command starts before its input is known. Parts are
   * written in turn; one that rejects ends the input there. The deadline
   * counts from the start.
   */
  stdin?: Input | readonly Input[];
  /** Given stderr as it comes (a command can say, mid-run, how far it got); the result still has all of it. */
  onStderr?: (text: string) => void;
  timeoutMs?: number;
  /** Replaces the environment entirely (PATH is always kept). */
  env?: Record<string, string>;
  /** The most bytes of stdout (and of stderr) read; more is an error. */
  outputLimit?: number;
  /**
   * A program the plugin does not ship or know (an IPAM plugin): it runs in
   * a session of its own, and the deadline ends its whole process group,
   * even what outlived the command. Otherwise (ip, iptables-restore,
   * nsenter) the deadline ends the command and what runs below it then,
   * and no `setsid` exec is needed.
   */
  untrusted?: boolean;
}

type Input = string | Promise<string>;

export interface RunOutput {
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
    reason: string,
  ) {
    super(`${argv.join(" ")}: ${reason}${stderr.trim() ? `: ${stderr.trim()}` : ""}`);
    this.name = "ExecError";
  }
}

const decoder = new TextDecoder();

/**
 * Runs the small namespace and session tools (setsid, nsenter, unshare, sh):
 * busybox-static's applets start without the dynamic loader, ~0.8 ms less
 * CPU per exec than util-linux's, and an ADD runs seven (measured). busybox
 * prefers its own applets to programs of the same name (it has an `ip`), so
 * what its applets exec is named by full path (programPath).
 */
export const BUSYBOX = "busybox";

/**
 * Puts what it execs in a session (and process group) of its own. Deno's
 * `detached: true` does that in the child before exec, which rules out
 * vfork: the fork then copies this process's page tables, ~1 ms in a CNI
 * call and ~4.6 ms in the node agent (130 MB), measured. `setsid` does it
 * after a vfork; a vforked child leads no group, so it execs in place and
 * the pid stays the command's.
 */
function inNewSession(argv: readonly string[]): string[] {
  return [BUSYBOX, "setsid", programPath(argv[0]), ...argv.slice(1)];
}

/** Runtimes do not always give plugins a PATH with the sbin directories, where ip and iptables live. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The PATH commands are looked up in: the inherited one, then the system's. */
export function commandPath(): string {
  const inherited = Deno.env.get("PATH");
  return inherited ? `${inherited}:${SYSTEM_PATH}` : SYSTEM_PATH;
}

export function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

const found = new Map<string, string>();

/** A program's full path on commandPath(), if it is there (where it was last time, checked first). */
export function findOnPath(name: string): string | undefined {
  const known = found.get(name);
  if (known !== undefined && isExecutable(known)) return known;
  const path = commandPath().split(":").map((dir) => `${dir}/${name}`).find(isExecutable);
  if (path === undefined) found.delete(name);
  else found.set(name, path);
  return path;
}

/**
 * A program's full path, found once: every exec by name would search PATH
 * again (Deno's spawn and busybox's applets alike), and a busybox applet
 * must not run its own namesake (busybox has an `ip`).
 */
export function programPath(name: string): string {
  if (name.includes("/")) return name;
  const path = findOnPath(name);
  if (path === undefined) {
    throw new ExecError([name], null, "", "", `cannot start: ${name} is not on PATH`);
  }
  return path;
}

function environment(env: Record<string, string> | undefined): Record<string, string> {
  return { PATH: commandPath(), ...env };
}

/** Reads a stream to its end or until stop resolves; fails past limit bytes. */
async function readBounded(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  stop: Promise<void>,
  onOverflow: () => void,
  onChunk?: (chunk: Uint8Array) => void,
): Promise<{ bytes: Uint8Array; overflow: boolean }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let overflow = false;
  const stopped = stop.then(() => "stop" as const);
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), stopped]);
      if (next === "stop" || next.done) break;
      size += next.value.length;
      if (size > limit) {
        overflow = true;
        onOverflow();
        break;
      }
      chunks.push(next.value);
      onChunk?.(next.value);
    }
  } finally {
    // Closes our end: a writer still holding the pipe can no longer make us wait.
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, limit));
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  return { bytes, overflow };
}

function inputParts(stdin: Input | readonly Input[]): readonly Input[] {
  return typeof stdin === "string" || stdin instanceof Promise ? [stdin] : stdin;
}

function stderrWatcher(
  onStderr: ((text: string) => void) | undefined,
): ((chunk: Uint8Array) => void) | undefined {
  if (!onStderr) return undefined;
  const text = new TextDecoder();
  return (chunk) => onStderr(text.decode(chunk, { stream: true }));
}

function signalProcess(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

/**
 * Runs argv to completion; rejects with ExecError on a non-zero exit, a
 * timeout or too much output. At the deadline the command and what it
 * started (see untrusted) get SIGTERM, then SIGKILL, and pipes still held by
 * anything that escaped are abandoned.
 */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limit = opts.outputLimit ?? DEFAULT_OUTPUT_LIMIT;
  const started = performance.now();
  // Handled from the start: a rejected input must not go unhandled if the spawn fails.
  const input = opts.stdin === undefined
    ? undefined
    : inputParts(opts.stdin).map((part) =>
      Promise.resolve(part).then((text) => ({ text }), () => undefined)
    );
  let child: Deno.ChildProcess;
  const spawned = opts.untrusted ? inNewSession(argv) : argv;
  try {
    child = new Deno.Command(programPath(spawned[0]), {
      args: spawned.slice(1),
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: environment(opts.env),
    }).spawn();
  } catch (err) {
    if (err instanceof ExecError) throw err;
    throw new ExecError(argv, null, "", "", `cannot start: ${(err as Error).message}`);
  }
  // An untrusted command's whole group; otherwise the command and whatever runs below it,
  // remembered from SIGTERM to SIGKILL (by start time: a pid may be reused meanwhile).
  const doomed = new Map<number, string>();
  const signal = (sig: Deno.Signal) => {
    if (opts.untrusted) {
      signalProcess(-child.pid, sig);
      // In case the deadline came before setsid made the group.
      return signalProcess(child.pid, sig);
    }
    for (const p of processTree(child.pid)) doomed.set(p.pid, p.startTime);
    for (const [pid, startTime] of doomed) {
      if (sameProcess(pid, startTime)) signalProcess(pid, sig);
    }
  };
  let timedOut = false;
  let stopReading!: () => void;
  const readingStopped = new Promise<void>((resolve) => stopReading = resolve);
  const cancels: (() => void)[] = [];
  const kill = () => signal("SIGKILL");
  cancels.push(after(timeoutMs, () => {
    timedOut = true;
    signal("SIGTERM");
    cancels.push(after(KILL_GRACE_MS, () => {
      kill();
      cancels.push(after(PIPE_GRACE_MS, stopReading));
    }));
  }));
  try {
    // Output is read while stdin is written: a command may print before it reads.
    const reading = Promise.all([
      child.status,
      readBounded(child.stdout, limit, readingStopped, kill),
      readBounded(child.stderr, limit, readingStopped, kill, stderrWatcher(opts.onStderr)),
    ]);
    if (input !== undefined) {
      const writer = child.stdin.getWriter();
      for (const part of input) {
        const got = await part;
        if (got === undefined) break;
        // A command that exits without reading its stdin must not fail the write.
        if (got.text) await writer.write(new TextEncoder().encode(got.text)).catch(() => {});
      }
      await writer.close().catch(() => {});
    }
    const [status, out, err] = await reading;
    const stdout = decoder.decode(out.bytes);
    const stderr = decoder.decode(err.bytes);
    log.debug(
      `${(performance.now() - started).toFixed(1)} ms, exit ${status.code}: ${argv.join(" ")}`,
    );
    if (timedOut) {
      throw new ExecError(argv, null, stdout, stderr, `timed out after ${timeoutMs} ms`);
    }
    if (out.overflow || err.overflow) {
      throw new ExecError(argv, null, "", "", `printed more than ${limit} bytes`);
    }
    if (!status.success) {
      throw new ExecError(argv, status.code, stdout, stderr, `exited with code ${status.code}`);
    }
    return { stdout, stderr };
  } finally {
    for (const cancel of cancels) cancel();
  }
}

/** Runs argv and returns whether it succeeded; for best-effort cleanup. */
export async function tryRun(argv: readonly string[], opts: RunOptions = {}): Promise<boolean> {
  try {
    await run(argv, opts);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a long-lived process in its own session with no stdio of ours, so
 * that it outlives this process and holds none of the pipes a CNI runtime
 * waits on. Returns the child; its pid is the daemon's pid.
 */
export function spawnDaemon(
  argv: readonly string[],
  env: Record<string, string>,
  cwd: string,
): Deno.ChildProcess {
  const spawned = inNewSession(argv);
  try {
    return new Deno.Command(programPath(spawned[0]), {
      args: spawned.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
      clearEnv: true,
      env: environment(env),
      cwd,
    }).spawn();
  } catch (err) {
    if (err instanceof ExecError) throw err;
    throw new ExecError(argv, null, "", "", `cannot start: ${(err as Error).message}`);
  }
}

/** A helper kept running and given its input a piece at a time (startCoprocess). */
export interface Coprocess {
  readonly argv: readonly string[];
  /** Writes to its stdin; rejects once it no longer reads (it ended). */
  write(bytes: Uint8Array): Promise<void>;
  /** Settles once it has exited and its output is read to the end. */
  readonly ended: Promise<Deno.CommandStatus>;
  /** Ends it now (SIGKILL). */
  kill(): void;
  /** Closes its stdin (a batch reader then ends) and waits for it to end, killing it past KILL_GRACE_MS. */
  close(): Promise<void>;
}

/** Reads a stream to its end, giving each piece to watch as text. */
async function watchStream(stream: ReadableStream<Uint8Array>, watch: (text: string) => void) {
  const text = new TextDecoder();
  for await (const chunk of stream) watch(text.decode(chunk, { stream: true }));
}

/**
 * Starts argv with its stdin open for later writes, and its stdout and
 * stderr given to the watchers as they come. Deadlines and bounds on its
 * output are the caller's: it alone knows where one piece of work ends.
 */
export function startCoprocess(
  argv: readonly string[],
  onStdout: (text: string) => void,
  onStderr: (text: string) => void,
): Coprocess {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(programPath(argv[0]), {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: environment(undefined),
    }).spawn();
  } catch (err) {
    if (err instanceof ExecError) throw err;
    throw new ExecError(argv, null, "", "", `cannot start: ${(err as Error).message}`);
  }
  const writer = child.stdin.getWriter();
  const ended = Promise.all([
    child.status,
    watchStream(child.stdout, onStdout).catch(() => {}),
    watchStream(child.stderr, onStderr).catch(() => {}),
  ]).then(([status]) => status);
  return {
    argv,
    write: (bytes) => writer.write(bytes),
    ended,
    kill: () => signalProcess(child.pid, "SIGKILL"),
    async close() {
      await writer.close().catch(() => {});
      const cancel = after(KILL_GRACE_MS, () => signalProcess(child.pid, "SIGKILL"));
      await ended;
      cancel();
    },
  };
}

/** argv as a person would type it into a POSIX shell (or a script runs it). */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_./:=@,+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

/** iproute2's named network namespaces (`ip netns add`; runtimes make theirs there too). */
const NAMED_NETNS = /^\/(?:var\/)?run\/netns\/([^/]+)$/;

/**
 * `ip` with args inside the network namespace at nsPath. A named one `ip -n`
 * enters itself: one exec (busybox's nsenter is a second: ~0.45 ms of CPU
 * more, measured); any other path goes through nsenter.
 */
export function ipInNetns(nsPath: string, args: readonly string[]): string[] {
  const name = NAMED_NETNS.exec(nsPath)?.[1];
  return name && name !== "." && name !== ".."
    ? ["ip", "-n", name, ...args]
    : inNetns(nsPath, ["ip", ...args]);
}

/** Runs argv inside the network namespace at nsPath (-F: exec in place, as util-linux's does). */
export function inNetns(nsPath: string, argv: readonly string[]): string[] {
  return [
    BUSYBOX,
    "nsenter",
    `--net=${nsPath}`,
    "-F",
    "--",
    programPath(argv[0]),
    ...argv.slice(1),
  ];
}
