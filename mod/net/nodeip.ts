/**
 * The node side's `ip -batch` (links.ts). A CNI call's own process execs
 * one per ADD. The node agent keeps one `ip` running instead (keepNodeIp)
 * and writes each ADD's lines to it as they come, without waiting for the
 * batches before to be answered: an exec and a spawn less per ADD, and in
 * a burst ip runs the batches back to back.
 *
 * Without -force, ip stops at a failing line, as a batch of its own would:
 * it says which on stderr ("Command failed -:N", counted from its start,
 * renumbered here from the batch's first line) and ends. The batches
 * written after that one never ran: they go to a new ip. Every batch ends
 * in a `show` and prints nothing else, so each JSON line on stdout (ip
 * flushes it when the command is done) answers the oldest batch not yet
 * answered, and says that all its lines have run.
 *
 * ip remembers the index of a link it has shown or made another's master,
 * by name: once that link is deleted and made again, it would act on the
 * old index ("No such device"). So a batch names such links with what
 * identifies them now (the bridge's ifindex); a link that changed since
 * this ip saw it retires that ip (it is closed once its batches are
 * answered) and the batch goes to a new one.
 */

import { after } from "../timer.ts";
import {
  type Coprocess,
  DEFAULT_OUTPUT_LIMIT,
  ExecError,
  run,
  type RunOutput,
  startCoprocess,
} from "../exec.ts";

/** How much of a kept ip's stderr is kept: its last words, which name the failing line. */
const STDERR_KEPT = 64 << 10;

/** ip reading batches on its stdin, each to its end or its first failing line. */
export const NODE_IP_ARGV = ["ip", "-d", "-j", "-batch", "-"];

/** stderr of an ip that had read `before` lines ahead of this batch, numbered from the batch (pure). */
export function renumberBatchFailures(stderr: string, before: number): string {
  return stderr.replace(
    /Command failed -:(\d+)/g,
    (_, n) => `Command failed -:${Number(n) - before}`,
  );
}

interface Batch {
  lines: string[];
  links: Record<string, string>;
  timeoutMs: number;
  done: PromiseWithResolvers<RunOutput>;
  /** The ip it was last written to, and the number of its first line there. */
  ip?: RunningIp;
  first: number;
  timedOut: boolean;
  /** Written again once already, after an ip ended without saying why. */
  retried: boolean;
}

interface RunningIp {
  process: Coprocess;
  /** The links whose index it may remember, and what they were then. */
  seen: Map<string, string>;
  /** Lines written to it so far. */
  lines: number;
  /** Written and not yet answered, oldest first: the first is the one ip is at. */
  pending: Batch[];
  /** stdout not yet a whole line. */
  partial: string;
  /** The end of its stderr (STDERR_KEPT). */
  stderr: string;
  /** Why this process ended it, if it did: for a batch's deadline, or for all it printed. */
  killed?: { why: string; batch?: Batch };
  /** Takes no more batches; closed once the ones it has are answered. */
  retired: boolean;
  closing: boolean;
}

/** One ip (argv, NODE_IP_ARGV in some namespace) taking batches as they come. */
export class KeptIp {
  #ip: RunningIp | undefined;
  /** Batches not yet answered, wherever they are. */
  #batches = new Set<Batch>();
  /** Ips closed, still ending. */
  #ending = new Set<Promise<void>>();

  constructor(readonly argv: readonly string[] = NODE_IP_ARGV) {}

  /**
   * Runs the batch after the ones written before it. links: each link the
   * batch shows or makes a master, with what identifies it now ("" while
   * there is none).
   */
  run(lines: string[], timeoutMs: number, links: Record<string, string> = {}): Promise<RunOutput> {
    // Its one line of output is what answers it: a batch without would take the next one's.
    if (!/^\S+ show( |$)/.test(lines.at(-1) ?? "")) {
      return Promise.reject(new Error("a batch for the kept ip must end in a show"));
    }
    const batch: Batch = {
      lines,
      links,
      timeoutMs,
      done: Promise.withResolvers(),
      first: 0,
      timedOut: false,
      retried: false,
    };
    const cancel = after(timeoutMs, () => {
      batch.timedOut = true;
      if (batch.ip) this.#kill(batch.ip, `timed out after ${timeoutMs} ms`, batch);
    });
    this.#batches.add(batch);
    const answered = batch.done.promise.finally(() => {
      cancel();
      this.#batches.delete(batch);
    });
    this.#write(batch);
    return answered;
  }

  /** Ends the ip once the batches under way are answered. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#batches].map((b) => b.done.promise));
    if (this.#ip) this.#retire(this.#ip);
    await Promise.all(this.#ending);
  }

  #write(batch: Batch): void {
    const stale = this.#ip && Object.entries(batch.links).some(([name, id]) => {
      const seen = this.#ip!.seen.get(name);
      return seen !== undefined && seen !== id;
    });
    if (stale) this.#retire(this.#ip!);
    let ip: RunningIp;
    try {
      ip = this.#ip ??= this.#start();
    } catch (err) {
      batch.done.reject(err);
      return;
    }
    // Made by this batch, a link is not what it was before it: seen as changed next time, once.
    for (const [name, id] of Object.entries(batch.links)) ip.seen.set(name, id);
    batch.ip = ip;
    batch.first = ip.lines;
    ip.lines += batch.lines.length;
    ip.pending.push(batch);
    // A write that fails found ip ended: its end (#ended) sees to the batch.
    ip.process.write(new TextEncoder().encode(`${batch.lines.join("\n")}\n`)).catch(() => {});
  }

  #start(): RunningIp {
    const ip: RunningIp = {
      process: undefined!,
      seen: new Map(),
      lines: 0,
      pending: [],
      partial: "",
      stderr: "",
      retired: false,
      closing: false,
    };
    ip.process = startCoprocess(this.argv, (text) => this.#stdout(ip, text), (text) => {
      // It runs for days: what a failure says is at the end, just before it ends.
      ip.stderr = (ip.stderr + text).slice(-STDERR_KEPT);
    });
    ip.process.ended.then((status) => this.#ended(ip, status));
    return ip;
  }

  #stdout(ip: RunningIp, text: string): void {
    ip.partial += text;
    for (let end; (end = ip.partial.indexOf("\n")) >= 0;) {
      const line = ip.partial.slice(0, end + 1);
      ip.partial = ip.partial.slice(end + 1);
      const batch = ip.pending.shift();
      if (!batch) return this.#kill(ip, "printed a line no batch asked for");
      batch.done.resolve({ stdout: line, stderr: "" });
    }
    if (ip.partial.length > DEFAULT_OUTPUT_LIMIT) {
      return this.#kill(ip, `printed more than ${DEFAULT_OUTPUT_LIMIT} bytes`);
    }
    if (ip.retired && ip.pending.length === 0) this.#close(ip);
  }

  #kill(ip: RunningIp, why: string, batch?: Batch): void {
    ip.killed ??= { why, batch };
    ip.process.kill();
  }

  #retire(ip: RunningIp): void {
    ip.retired = true;
    if (this.#ip === ip) this.#ip = undefined;
    if (ip.pending.length === 0) this.#close(ip);
  }

  #close(ip: RunningIp): void {
    if (ip.closing) return;
    ip.closing = true;
    const ending = ip.process.close().finally(() => this.#ending.delete(ending));
    this.#ending.add(ending);
  }

  /** ip ended: the batch it was at failed; those written after it never ran and go to a new ip. */
  #ended(ip: RunningIp, status: Deno.CommandStatus): void {
    if (this.#ip === ip) this.#ip = undefined;
    const [current, ...later] = ip.pending;
    ip.pending = [];
    if (current) {
      const failedLine = /Command failed -:\d+/.test(ip.stderr);
      // Killed for a batch answered meanwhile, the one after it is not to blame.
      const killed = ip.killed && (!ip.killed.batch || ip.killed.batch === current)
        ? ip.killed.why
        : undefined;
      if (!failedLine && !killed && !current.retried) {
        // Ended without a failing line or a reason of ours (it died before reading the batch, or
        // was killed by someone else): the batch may not have run, so once more on a new ip.
        current.retried = true;
        later.unshift(current);
      } else {
        current.done.reject(
          new ExecError(
            this.argv,
            killed ? null : status.code,
            ip.partial,
            renumberBatchFailures(ip.stderr, current.first),
            killed ?? `exited with code ${status.code}`,
          ),
        );
      }
    }
    for (const batch of later) {
      if (batch.timedOut) {
        batch.done.reject(
          new ExecError(this.argv, null, "", "", `timed out after ${batch.timeoutMs} ms`),
        );
      } else {
        this.#write(batch);
      }
    }
  }
}

let kept: KeptIp | undefined;

/** For the node agent: node-side batches go to one ip kept running. */
export function keepNodeIp(): void {
  kept ??= new KeptIp();
}

/** Ends the kept ip once the batches under way are done. */
export async function closeNodeIp(): Promise<void> {
  await kept?.close();
  kept = undefined;
}

/**
 * Runs lines in the node's namespace (this process's), stopping at the
 * first that fails; the last must be a `show` (the only one that prints).
 * links: as KeptIp's run.
 */
export async function nodeBatch(
  lines: string[],
  timeoutMs: number,
  links: Record<string, string>,
): Promise<RunOutput> {
  if (kept) return await kept.run(lines, timeoutMs, links);
  return await run(NODE_IP_ARGV, { stdin: lines.join("\n"), timeoutMs });
}
