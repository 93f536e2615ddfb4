/**
 * The node side's `ip -batch` (links.ts). A CNI call's own process execs
 * one per ADD. The node agent keeps one `ip` running instead (keepNodeIp),
 * fed each ADD's lines in turn: an exec and a spawn less per ADD.
 *
 * Without -force, ip stops at a failing line, as a batch of its own would:
 * it says which on stderr ("Command failed -:N", counted from its start,
 * renumbered here from the batch's first line) and ends; the next batch
 * gets a new ip. A batch ends in a `show`, whose JSON line on stdout (ip
 * flushes it when the command is done) says that every line has run.
 *
 * ip remembers the index of a link it has shown or made another's master,
 * by name: once that link is deleted and made again, it would act on the
 * old index ("No such device"). So a batch names such links with what
 * identifies them now (the bridge's ifindex), and a link that changed since
 * this ip saw it gets the batch a new ip.
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

/** Linux's bound on a pipe write that is never split. */
const PIPE_BUF = 4096;

/** ip reading batches on its stdin, each to its end or its first failing line. */
export const NODE_IP_ARGV = ["ip", "-d", "-j", "-batch", "-"];

/** stderr of an ip that had read `before` lines ahead of this batch, numbered from the batch (pure). */
export function renumberBatchFailures(stderr: string, before: number): string {
  return stderr.replace(
    /Command failed -:(\d+)/g,
    (_, n) => `Command failed -:${Number(n) - before}`,
  );
}

interface RunningIp {
  process: Coprocess;
  /** The links whose index it may remember, and what they were then. */
  seen: Map<string, string>;
  /** Lines it has read: the batches before this one. */
  lines: number;
  stdout: string;
  stderr: string;
  exited: boolean;
  /** Called on every piece of output and at the end. */
  changed: () => void;
}

/** One ip (argv, NODE_IP_ARGV in some namespace) taking batches in turn. */
export class KeptIp {
  #ip: RunningIp | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Ips ended for a stale link, still ending. */
  #retired = new Set<Promise<void>>();

  constructor(readonly argv: readonly string[] = NODE_IP_ARGV) {}

  /**
   * Runs the batch once the ones before it are done. links: each link the
   * batch shows or makes a master, with what identifies it now ("" while
   * there is none).
   */
  run(lines: string[], timeoutMs: number, links: Record<string, string> = {}): Promise<RunOutput> {
    const turn = this.#queue.then(() => this.#runNow(lines, timeoutMs, links));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#ip?.process.close();
    this.#ip = undefined;
    await Promise.all(this.#retired);
  }

  #start(): RunningIp {
    const ip: RunningIp = {
      process: undefined!,
      seen: new Map(),
      lines: 0,
      stdout: "",
      stderr: "",
      exited: false,
      changed: () => {},
    };
    const take = (stream: "stdout" | "stderr") => (text: string) => {
      ip[stream] += text;
      // A batch's output is small: more is not ip's answer to it.
      if (ip[stream].length > DEFAULT_OUTPUT_LIMIT) ip.process.kill();
      ip.changed();
    };
    ip.process = startCoprocess(this.argv, take("stdout"), take("stderr"));
    ip.process.ended.then(() => {
      ip.exited = true;
      if (this.#ip === ip) this.#ip = undefined;
      ip.changed();
    });
    return ip;
  }

  async #runNow(
    lines: string[],
    timeoutMs: number,
    links: Record<string, string>,
    retried = false,
  ): Promise<RunOutput> {
    const stale = Object.entries(links).some(([name, id]) => {
      const seen = this.#ip?.seen.get(name);
      return seen !== undefined && seen !== id;
    });
    if (stale && this.#ip) {
      const ending = this.#ip.process.close().finally(() => this.#retired.delete(ending));
      this.#retired.add(ending);
      this.#ip = undefined;
    }
    const ip = this.#ip ??= this.#start();
    // Made by this batch, a link is not what it was before it: seen as changed next time, once.
    for (const [name, id] of Object.entries(links)) ip.seen.set(name, id);
    const before = ip.lines;
    ip.lines += lines.length;
    ip.stdout = "";
    ip.stderr = "";
    let timedOut = false;
    const cancel = after(timeoutMs, () => {
      timedOut = true;
      ip.process.kill();
    });
    try {
      const text = new TextEncoder().encode(`${lines.join("\n")}\n`);
      const wrote = await ip.process.write(text).then(() => true, () => false);
      if (!wrote) {
        if (this.#ip === ip) this.#ip = undefined;
        // Up to PIPE_BUF a write to a pipe is whole or nothing: a failed one reached no ip (it
        // had ended since the last batch), so a new one may run the batch.
        if (!retried && text.length <= PIPE_BUF) {
          cancel();
          return await this.#runNow(lines, timeoutMs, links, true);
        }
      }
      await new Promise<void>((resolve) => {
        ip.changed = () => {
          if (ip.exited || ip.stdout.endsWith("\n")) resolve();
        };
        ip.changed();
      });
      if (!ip.exited) return { stdout: ip.stdout, stderr: ip.stderr };
      const status = await ip.process.ended;
      const stderr = renumberBatchFailures(ip.stderr, before);
      throw new ExecError(
        this.argv,
        timedOut ? null : status.code,
        ip.stdout,
        stderr,
        timedOut ? `timed out after ${timeoutMs} ms` : `exited with code ${status.code}`,
      );
    } finally {
      cancel();
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
