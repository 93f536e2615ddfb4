/**
 * A CNI call's side of the node agent (protocol.ts). Small on purpose: a
 * call that the agent serves loads nothing of the plugin but this.
 */

import { CniError, Code } from "../cni/errors.ts";
import type { Stdin } from "../cni/skel.ts";
import { directoryProblem } from "../fs.ts";
import { readMessage, writeAll } from "../io.ts";
import { log } from "../log.ts";
import type { Ran } from "../plugin/run.ts";
import { after } from "../timer.ts";
import {
  AGENT_DIR,
  type AgentRequest,
  agentSocket,
  parseReply,
  REPLY_LIMIT,
  requestFor,
} from "./protocol.ts";

/** Past every deadline of a command's own steps; runtimes give up sooner. */
export const REPLY_TIMEOUT_MS = 300_000;
/** An agent that does not take a call this soon is not used (it may be hung). */
export const CONNECT_TIMEOUT_MS = 2_000;

/** What the agent did with a call: its outcome, or a failure after it took the call. */
type Relayed = Ran | { failed: CniError };

/** Resolves to "timeout" once ms have passed, unless cancel() comes first. */
function deadline(ms: number): { expired: Promise<"timeout">; cancel: () => void } {
  let cancel = () => {};
  const expired = new Promise<"timeout">((r) => cancel = after(ms, () => r("timeout")));
  return { expired, cancel };
}

/** The agent's outcome for request; undefined when no agent took it (nothing ran). */
export async function relay(
  request: AgentRequest,
  dir = AGENT_DIR,
  timeoutMs = REPLY_TIMEOUT_MS,
): Promise<Relayed | undefined> {
  let socket: string;
  try {
    const problem = directoryProblem(dir, Deno.lstatSync(dir));
    if (problem) {
      log.warn(`the node agent is not used: ${problem}`);
      return undefined;
    }
    socket = agentSocket(dir);
  } catch {
    return undefined; // No directory: no agent on this node.
  }
  const taking = deadline(CONNECT_TIMEOUT_MS);
  let conn: Deno.UnixConn | undefined;
  try {
    const connecting = Deno.connect({ transport: "unix", path: socket });
    const got = await Promise.race([connecting, taking.expired]);
    if (got === "timeout") {
      connecting.then((c) => c.close(), () => {});
      throw new Error(`it did not take the call within ${CONNECT_TIMEOUT_MS} ms`);
    }
    conn = got;
    // The agent acts on a whole request only: one not sent whole never ran.
    const sent = await Promise.race([
      writeAll(conn, new TextEncoder().encode(JSON.stringify(request))).then(() =>
        conn!.closeWrite()
      ),
      taking.expired,
    ]);
    if (sent === "timeout") {
      throw new Error(`it did not read the call within ${CONNECT_TIMEOUT_MS} ms`);
    }
  } catch (err) {
    conn?.close();
    // No socket, or one left by an agent that ended: no agent, nothing to say.
    if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.ConnectionRefused)) {
      log.warn(`the node agent at ${socket} is not used: ${(err as Error).message}`);
    }
    return undefined;
  } finally {
    taking.cancel();
  }
  const answering = deadline(timeoutMs);
  try {
    const bytes = await readMessage(conn, REPLY_LIMIT, answering.expired);
    if (bytes === "timeout") throw new Error(`no answer within ${timeoutMs / 1000} s`);
    if (bytes === "too big") throw new Error(`an answer over ${REPLY_LIMIT} bytes`);
    if (bytes.length === 0) throw new Error("it closed the connection without an answer");
    const reply = parseReply(new TextDecoder().decode(bytes));
    if ("refused" in reply) {
      log.warn(`the node agent refused the call (${reply.refused}): it runs here instead`);
      return undefined;
    }
    return reply;
  } catch (err) {
    return {
      failed: new CniError(
        Code.AgentFailed,
        `the node agent (${socket}) failed during the command, which may have partly run: ${
          (err as Error).message
        }`,
      ),
    };
  } finally {
    answering.cancel();
    conn.close();
  }
}

/** The socket of this network namespace's agent, if one answers there (for the operator). */
export async function servingAgent(dir = AGENT_DIR): Promise<string | undefined> {
  try {
    const socket = agentSocket(dir);
    (await Deno.connect({ transport: "unix", path: socket })).close();
    return socket;
  } catch {
    return undefined;
  }
}

/**
 * The command, run by this node's agent if there is one: its outcome, or a
 * failure after the agent took it (the caller's boundary words it);
 * undefined when there is none (or it refused): then the command is to run
 * here.
 */
export async function runByAgent(
  getEnv: (name: string) => string | undefined,
  stdin: Stdin,
): Promise<Relayed | undefined> {
  if (typeof stdin !== "string" || getEnv("CNI_COMMAND") === "VERSION") return undefined;
  return await relay(requestFor(getEnv, stdin));
}
