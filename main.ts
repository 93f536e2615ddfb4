/**
 * strongswan: a CNI plugin that puts a pod on the node's bridge and makes it
 * an IKEv2 client of a strongSwan hub. This file only dispatches: CNI mode
 * when CNI_COMMAND is set, the operator CLI otherwise.
 */

import { runByAgent } from "./mod/agent/client.ts";
import { readMessage, STDIN_LIMIT, writeAll } from "./mod/io.ts";
import { after, useUncancellableTimers } from "./mod/timer.ts";

const encoder = new TextEncoder();

/**
 * Everything else (mod/commands.ts): once built, a bundle of its own beside
 * this one, so that a call the node agent serves loads and compiles only
 * the few KB it runs (~1 ms of CPU less per call, measured); in a checkout,
 * the source.
 */
const COMMANDS = import.meta.url.endsWith(".ts") ? "./mod/commands.ts" : "./strongswan-commands.js";
const commands = (): Promise<typeof import("./mod/commands.ts")> => import(COMMANDS);

/** Runtimes write the config at once and close stdin. */
const STDIN_TIMEOUT_MS = 10_000;

/** The whole of stdin, or an error message when it is too big or never ends. */
async function readStdin(): Promise<string | { error: string }> {
  let cancel = () => {};
  const expired = new Promise<"timeout">((r) =>
    cancel = after(STDIN_TIMEOUT_MS, () => r("timeout"))
  );
  const bytes = await readMessage(Deno.stdin, STDIN_LIMIT, expired);
  cancel();
  if (bytes === "timeout") {
    return { error: `stdin was not closed within ${STDIN_TIMEOUT_MS / 1000} s` };
  }
  if (bytes === "too big") {
    return { error: `the network configuration exceeds ${STDIN_LIMIT} bytes` };
  }
  return new TextDecoder().decode(bytes);
}

async function cniMode(): Promise<number> {
  // The process ends with Deno.exit: cheap timers suffice.
  useUncancellableTimers();
  const getEnv = (name: string) => Deno.env.get(name);
  // VERSION needs no config: it answers without waiting for stdin.
  const stdin = getEnv("CNI_COMMAND") === "VERSION" ? "" : await readStdin();
  // The node's agent, if it runs, saves this process loading and running the plugin.
  const relayed = getEnv("STRONGSWAN_CNI_AGENT") !== "off"
    ? await runByAgent(getEnv, stdin)
    : undefined;
  const ran = relayed && !("failed" in relayed)
    ? relayed
    : await (await commands()).runCall(getEnv, stdin, relayed?.failed);
  if (ran.stdout) await writeAll(Deno.stdout, encoder.encode(`${ran.stdout}\n`));
  return ran.exitCode;
}

async function cliMode(): Promise<number> {
  const outcome = await (await commands()).runCli(Deno.args);
  if (outcome.stdout) await writeAll(Deno.stdout, encoder.encode(outcome.stdout));
  if (outcome.stderr) await writeAll(Deno.stderr, encoder.encode(outcome.stderr));
  return outcome.exitCode;
}

if (import.meta.main) {
  Deno.exit(Deno.env.get("CNI_COMMAND") ? await cniMode() : await cliMode());
}
