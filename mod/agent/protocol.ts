/**
 * The node agent: a resident `strongswan agent` that runs CNI commands for
 * the plugin's short-lived processes, so that each call skips loading and
 * warming a JavaScript runtime (half of an ADD's CPU). A call hands over
 * its CNI_* variables and stdin on a unix socket and gets stdout and the
 * exit code back. No agent, or one that refuses: the call runs in its own
 * process, as without an agent.
 *
 * One agent serves one network namespace (the node's): its socket is named
 * after the namespace, so that a call only reaches an agent that would
 * make the same changes as the call itself. The directory is root's (0700);
 * a call trusts no socket in a directory others could write.
 */

import { STDIN_LIMIT } from "../io.ts";
import { PLUGIN_VERSION } from "../version.ts";

export const AGENT_DIR = "/run/strongswan-cni";

/** The environment a command reads (mod/cni/env.ts); nothing else is handed over. */
export const FORWARDED_ENV = [
  "CNI_COMMAND",
  "CNI_CONTAINERID",
  "CNI_NETNS",
  "CNI_IFNAME",
  "CNI_ARGS",
  "CNI_PATH",
] as const;

/** stdin's bound plus room for the environment. */
export const REQUEST_LIMIT = STDIN_LIMIT + (64 << 10);
/** A result or an error is small; a bigger reply is not the agent's. */
export const REPLY_LIMIT = 1 << 20;
/** A call writes its request at once: one that has not ended by then is dropped. */
export const REQUEST_TIMEOUT_MS = 10_000;

export interface AgentRequest {
  /** The caller's PLUGIN_VERSION: an agent of another version refuses. */
  version: string;
  env: Record<string, string>;
  stdin: string;
}

export type AgentReply = { stdout: string; exitCode: number } | { refused: string };

/** The socket of the agent for the network namespace this process is in. */
export function agentSocket(dir = AGENT_DIR): string {
  // "net:[4026531840]": the namespace's inode, the same for every process in it.
  const ns = Deno.readLinkSync("/proc/self/ns/net").replace(/\D/g, "");
  return `${dir}/agent-net${ns}.sock`;
}

export function requestFor(
  getEnv: (name: string) => string | undefined,
  stdin: string,
): AgentRequest {
  const env: Record<string, string> = {};
  for (const name of FORWARDED_ENV) {
    const value = getEnv(name);
    if (value !== undefined) env[name] = value;
  }
  return { version: PLUGIN_VERSION, env, stdin };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The request in text, checked field by field; throws with what is wrong (pure). */
export function parseRequest(text: string): AgentRequest {
  const raw: unknown = JSON.parse(text);
  if (!isObject(raw)) throw new Error("the request is not a JSON object");
  const { version, env, stdin } = raw;
  if (typeof version !== "string") throw new Error("the request has no version");
  if (typeof stdin !== "string") throw new Error("the request has no stdin");
  if (!isObject(env)) throw new Error("the request has no env");
  const known: readonly string[] = FORWARDED_ENV;
  for (const [name, value] of Object.entries(env)) {
    if (!known.includes(name)) throw new Error(`the request's env has ${name}, not a CNI variable`);
    if (typeof value !== "string") throw new Error(`the request's ${name} is not a string`);
  }
  return { version, env: env as Record<string, string>, stdin };
}

/** The agent's reply in text, checked; throws with what is wrong (pure). */
export function parseReply(text: string): AgentReply {
  const raw: unknown = JSON.parse(text);
  if (isObject(raw) && typeof raw.refused === "string") return { refused: raw.refused };
  if (
    isObject(raw) && typeof raw.stdout === "string" && Number.isInteger(raw.exitCode) &&
    (raw.exitCode as number) >= 0 && (raw.exitCode as number) <= 255
  ) {
    return { stdout: raw.stdout, exitCode: raw.exitCode as number };
  }
  throw new Error("the reply is neither a command's outcome nor a refusal");
}
