/**
 * The only place that runs commands: argv arrays (never a shell), a timeout,
 * captured output, and errors that carry the argv and stderr.
 */

import { log } from "./log.ts";

export const DEFAULT_TIMEOUT_MS = 15_000;

export interface RunOptions {
  /** Written to the command's stdin, then closed. */
  stdin?: string;
  timeoutMs?: number;
  /** Replaces the environment entirely (PATH is always kept). */
  env?: Record<string, string>;
}

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

/** Runtimes do not always give plugins a PATH with the sbin directories, where ip and iptables live. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The PATH commands are looked up in: the inherited one, then the system's. */
export function commandPath(): string {
  const inherited = Deno.env.get("PATH");
  return inherited ? `${inherited}:${SYSTEM_PATH}` : SYSTEM_PATH;
}

function environment(env: Record<string, string> | undefined): Record<string, string> {
  return { PATH: commandPath(), ...env };
}

/** Runs argv to completion; rejects with ExecError on a non-zero exit or timeout. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: environment(opts.env),
      signal,
    }).spawn();
  } catch (err) {
    throw new ExecError(argv, null, "", "", `cannot start: ${(err as Error).message}`);
  }
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    // A command that exits without reading its stdin must not fail the write.
    await writer.write(new TextEncoder().encode(opts.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  log.debug(`${(performance.now() - started).toFixed(1)} ms, exit ${out.code}: ${argv.join(" ")}`);
  if (signal.aborted) {
    throw new ExecError(argv, null, stdout, stderr, `timed out after ${timeoutMs} ms`);
  }
  if (!out.success) {
    throw new ExecError(argv, out.code, stdout, stderr, `exited with code ${out.code}`);
  }
  return { stdout, stderr };
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
): Deno.ChildProcess {
  try {
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
      clearEnv: true,
      env: environment(env),
      detached: true,
    }).spawn();
    return child;
  } catch (err) {
    throw new ExecError(argv, null, "", "", `cannot start: ${(err as Error).message}`);
  }
}

/** Runs argv inside the network namespace at nsPath. */
export function inNetns(nsPath: string, argv: readonly string[]): string[] {
  return ["nsenter", `--net=${nsPath}`, "--", ...argv];
}
