/**
 * `strongswan agent`: the node agent (protocol.ts). It runs each call's
 * command as the plugin's own process would, many at once, each logging to
 * its own config's logFile. It ends on SIGTERM or SIGINT once the commands
 * under way have finished, so no attachment is left half made.
 *
 * The daemons it starts for pods are in sessions of their own: they outlive
 * the agent. Under systemd, give its unit KillMode=process, or a restart of
 * the agent ends every pod's tunnel.
 */

import { directoryProblem } from "../fs.ts";
import { readMessage, writeAll } from "../io.ts";
import { log, type LogTarget, newLogTarget, useLogTargets } from "../log.ts";
import { closeNodeIp, keepNodeIp } from "../net/nodeip.ts";
import { type Ran, runCommand } from "../plugin/run.ts";
import { after } from "../timer.ts";
import { PLUGIN_VERSION } from "../version.ts";
import {
  AGENT_DIR,
  type AgentReply,
  type AgentRequest,
  agentSocket,
  parseRequest,
  REQUEST_LIMIT,
  REQUEST_TIMEOUT_MS,
} from "./protocol.ts";

export interface Agent {
  socket: string;
  /** Stops taking calls, waits for those under way, removes the socket. */
  close(): Promise<void>;
}

const describe = (err: unknown) => err instanceof Error ? err.message : String(err);

/** Makes dir root's own (0700), or says why it cannot be trusted. */
async function prepareDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const problem = directoryProblem(dir, await Deno.lstat(dir));
  if (problem) throw new Error(`cannot serve in ${dir}: ${problem}`);
  await Deno.chmod(dir, 0o700);
}

/** Removes a socket no agent answers on; refuses if one does. */
async function claimSocket(socket: string): Promise<void> {
  try {
    const live = await Deno.connect({ transport: "unix", path: socket });
    live.close();
    throw new Error(`an agent already serves this network namespace at ${socket}`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    if (!(err instanceof Deno.errors.ConnectionRefused)) throw err;
  }
  await Deno.remove(socket);
}

type Scope = (target: LogTarget, command: () => Promise<Ran>) => Promise<Ran>;

/** Reads one call, runs it in a log scope of its own, answers. */
async function serveOne(conn: Deno.Conn, scope: Scope): Promise<void> {
  let request: AgentRequest | { refused: string };
  let cancel = () => {};
  const expired = new Promise<"timeout">((r) =>
    cancel = after(REQUEST_TIMEOUT_MS, () => r("timeout"))
  );
  try {
    const bytes = await readMessage(conn, REQUEST_LIMIT, expired);
    if (bytes === "timeout") request = { refused: "the request did not end in time" };
    else if (bytes === "too big") request = { refused: "the request is too big" };
    else request = parseRequest(new TextDecoder().decode(bytes));
  } catch (err) {
    request = { refused: `unreadable request: ${describe(err)}` };
  } finally {
    cancel();
  }
  if (!("refused" in request) && request.version !== PLUGIN_VERSION) {
    request = { refused: `the agent runs version ${PLUGIN_VERSION}, the call ${request.version}` };
  }
  let reply: AgentReply;
  if ("refused" in request) reply = request;
  else {
    const { env, stdin } = request;
    // Whatever happens from here, the call must not run the command again: no refusal.
    reply = await scope(newLogTarget(), () => runCommand((name) => env[name], stdin));
  }
  try {
    await writeAll(conn, new TextEncoder().encode(JSON.stringify(reply)));
  } catch {
    // The call ended (its runtime gave up): nobody is left to answer.
  } finally {
    conn.close();
  }
}

/** Starts serving this network namespace's calls; see the module comment. */
export async function startAgent(dir = AGENT_DIR): Promise<Agent> {
  const socket = agentSocket(dir);
  let listener: Deno.Listener;
  for (let attempt = 1;; attempt++) {
    await prepareDir(dir);
    await claimSocket(socket);
    try {
      listener = Deno.listen({ transport: "unix", path: socket });
      break;
    } catch (err) {
      // Another namespace's agent, the last to stop, removed the directory meanwhile.
      if (!(err instanceof Deno.errors.NotFound) || attempt === 3) throw err;
    }
  }
  await Deno.chmod(socket, 0o600);
  // Loaded here: only the agent needs it, and Node's layer costs a CNI call ~8 ms to start.
  const { AsyncLocalStorage } = await import("node:async_hooks");
  const targets = new AsyncLocalStorage<LogTarget>();
  useLogTargets(() => targets.getStore());
  // A command's stray failure would end its own process; here it must not end the others'.
  addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error(`agent: a command left a failure unhandled: ${describe(e.reason)}`);
  });
  const scope: Scope = (target, command) => targets.run(target, command);
  // One ip for every ADD's node side, in this namespace (the one served).
  keepNodeIp();
  const underway = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      const call: Promise<void> = serveOne(conn, scope).finally(() => underway.delete(call));
      underway.add(call);
    }
  })();
  return {
    socket,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      await Promise.all(underway);
      await closeNodeIp();
      await Deno.remove(socket).catch(() => {});
      // The last agent on the machine leaves no directory behind (it fails while others serve).
      await Deno.remove(dir).catch(() => {});
    },
  };
}
