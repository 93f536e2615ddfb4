/**
 * Every command the plugin runs in its own process: a CNI command (no node
 * agent took it, or the agent failed after taking it and the boundary words
 * that failure), and the operator CLI. Built into a bundle of its own beside
 * the entry (main.ts): a call the node agent serves never loads it.
 */

import { CniError, type CodeValue } from "./cni/errors.ts";
import type { Handlers, Stdin } from "./cni/skel.ts";
import type { CliOutcome } from "./cli/common.ts";
import type { Ran } from "./plugin/run.ts";
import { useUncancellableTimers } from "./timer.ts";

/**
 * A failure of the node agent after it took the call: a CniError of the
 * entry's bundle, which is not this bundle's class, so read field by field.
 */
export interface AgentFailure {
  code: CodeValue;
  message: string;
  details: string;
}

/** Every handler fails with err: the boundary then words it for the config's version. */
function failingWith(err: CniError): Handlers {
  const fail = () => Promise.reject(err);
  return { add: fail, del: fail, check: fail, status: fail, gc: fail };
}

/** A CNI command, run here; with agentFailure, its failure worded for the config's version. */
export async function runCall(
  getEnv: (name: string) => string | undefined,
  stdin: Stdin,
  agentFailure?: AgentFailure,
): Promise<Ran> {
  // The process ends with Deno.exit: cheap timers suffice.
  useUncancellableTimers();
  const { runCommand } = await import("./plugin/run.ts");
  if (!agentFailure) return await runCommand(getEnv, stdin);
  const { code, message, details } = agentFailure;
  return await runCommand(getEnv, stdin, failingWith(new CniError(code, message, details)));
}

/** An operator command (the CLI), run here. */
export async function runCli(args: string[]): Promise<CliOutcome> {
  return await (await import("./cli/main.ts")).runCli(args);
}
