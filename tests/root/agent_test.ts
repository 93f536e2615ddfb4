/**
 * The node agent (`strongswan agent`) with the real plugin, daemons and
 * host-local: calls it serves, calls it cannot, and its ends (SIGTERM,
 * SIGKILL mid-command, a second agent, a stale socket, hostile requests).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { relay } from "../../mod/agent/client.ts";
import {
  AGENT_DIR,
  agentSocket,
  REPLY_LIMIT,
  REQUEST_LIMIT,
  requestFor,
} from "../../mod/agent/protocol.ts";
import { Code } from "../../mod/cni/errors.ts";
import { readMessage, STDIN_LIMIT, writeAll } from "../../mod/io.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import { PLUGIN_VERSION } from "../../mod/version.ts";
import type { Lab, Pod } from "../../lab/lab.ts";
import {
  assertCniError,
  assertNothingLeft,
  assertOk,
  daemonParent,
  daemonsOf,
  labTest,
  processGone,
  rootTest,
  vipOf,
} from "./support.ts";

/** The pid of the pod's strongSwan daemon, from the attachment's state. */
async function daemonOf(pod: Pod): Promise<number> {
  const [pid] = await daemonsOf((await attachmentNames(pod.containerId, pod.ifname)).stateDir);
  assert.ok(pid, `${pod.name} has no daemon`);
  return pid;
}

/** Whether the agent ran the pod's ADD: the daemon it started is its child. */
async function startedByAgent(lab: Lab, pod: Pod): Promise<boolean> {
  return (await daemonParent(pod.containerId, pod.ifname)) === lab.agent(1)?.pid;
}

/** A config whose IPAM takes a second: its ADD is surely under way when the agent is signalled. */
async function slowIpamConfig(lab: Lab): Promise<Record<string, unknown>> {
  await lab.installScript(
    "slow-ipam",
    `#!/bin/sh\nsleep 1\nexec ${join(lab.cniPath.at(-1)!, "host-local")}\n`,
  );
  return lab.config(1, { ipam: { ...lab.config(1).ipam as object, type: "slow-ipam" } });
}

function agentSocketOf(lab: Lab): string {
  const socket = /serving (\S+)/.exec(lab.agentLog(1))?.[1];
  assert.ok(socket, `the agent did not say where it serves: ${lab.agentLog(1)}`);
  return socket;
}

/** Sends raw bytes to the agent as a call would, and returns its reply. */
async function ask(socket: string, body: string): Promise<Record<string, unknown>> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    try {
      await writeAll(conn, new TextEncoder().encode(body));
      await conn.closeWrite();
    } catch {
      // The agent stopped reading a request over its limit; its reply is there to read.
    }
    const reply = await readMessage(conn, 1 << 20);
    assert.ok(typeof reply !== "string", `reply: ${reply}`);
    return JSON.parse(new TextDecoder().decode(reply));
  } finally {
    conn.close();
  }
}

labTest(
  "agent: serves ADD, CHECK and DEL at once for pods of two networks, each logging to its own file",
  { nodes: 1 },
  async (lab) => {
    await lab.startAgent(1);
    const socket = agentSocketOf(lab);
    assert.equal((await Deno.lstat(socket)).mode! & 0o777, 0o600);
    assert.equal((await Deno.lstat(AGENT_DIR)).mode! & 0o777, 0o700);
    const otherLog = join(lab.dir, "other.log");
    const pods = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => lab.pod(1, `a${i}`)));
    const configOf = (i: number) => lab.config(1, i % 2 ? { logFile: otherLog } : {});
    const outs = await Promise.all(pods.map((p, i) => lab.add(p, configOf(i))));
    outs.forEach((o) => assertOk(o));
    assert.equal(new Set(outs.map(vipOf)).size, pods.length, "each pod has its own virtual IP");
    for (const pod of pods) {
      assert.ok(await startedByAgent(lab, pod), `${pod.name}: not the agent's`);
    }
    for (const [i, pod] of pods.entries()) {
      const withPrev = { ...configOf(i), prevResult: outs[i].json };
      assertOk(await lab.exec(pod, "CHECK", withPrev), `CHECK ${pod.name}`);
    }
    // Each command's lines went to its own config's file, though they ran side by side.
    const logs = [join(lab.dir, "cni.log"), otherLog].map((f) => Deno.readTextFileSync(f));
    for (const [i, pod] of pods.entries()) {
      assert.match(logs[i % 2], new RegExp(`ADD ok .*container=${pod.containerId}`));
      assert.doesNotMatch(logs[(i + 1) % 2], new RegExp(pod.containerId));
    }
    const dels = await Promise.all(pods.map((p, i) => lab.exec(p, "DEL", configOf(i))));
    dels.forEach((o) => assertOk(o, "DEL"));
    for (const pod of pods) await assertNothingLeft(lab, pod);
  },
);

labTest(
  "agent: SIGTERM lets the ADD under way finish; the pods' daemons outlive the agent; calls then run in their own process",
  { nodes: 1 },
  async (lab) => {
    await lab.startAgent(1);
    const agentPid = lab.agent(1)!.pid;
    const status = await lab.cli(1, "status");
    assert.match(status.stdout, new RegExp(`node agent: serving at ${agentSocketOf(lab)}`));
    const slow = await slowIpamConfig(lab);
    const pod = await lab.pod(1, "slow");
    const adding = lab.add(pod, slow);
    await new Promise((r) => setTimeout(r, 400));
    const stopped = lab.stopAgent(1);
    const out = await adding;
    assertOk(out);
    assert.equal((await stopped).code, 0, lab.agentLog(1));
    assert.match(lab.agentLog(1), /SIGTERM: finishing the commands under way/);
    const daemon = await daemonOf(pod);
    assert.ok(processGone(agentPid));
    assert.ok(!processGone(daemon), "the pod's daemon ended with the agent");
    await assert.rejects(() => Deno.lstat(agentSocketOf(lab)), "the socket is left");
    assert.match((await lab.cli(1, "status")).stdout, /node agent: none/);
    // No agent: the plugin's own process serves.
    const later = await lab.pod(1, "later");
    assertOk(await lab.add(later));
    assert.ok(!(await startedByAgent(lab, later)));
    for (const [p, conf] of [[pod, slow], [later, lab.config(1)]] as const) {
      assertOk(await lab.exec(p, "DEL", conf), "DEL");
      await assertNothingLeft(lab, p);
    }
  },
);

labTest(
  "agent: killed mid-ADD, the call fails (106) saying so; DEL, with the socket stale, removes all of it; a new agent claims the socket",
  { nodes: 1 },
  async (lab) => {
    await lab.startAgent(1);
    const socket = agentSocketOf(lab);
    const slow = await slowIpamConfig(lab);
    const pod = await lab.pod(1, "killed");
    const adding = lab.add(pod, slow);
    await new Promise((r) => setTimeout(r, 400));
    await lab.stopAgent(1, "SIGKILL");
    const err = assertCniError(await adding, Code.AgentFailed);
    assert.match(err.msg, /the node agent .* failed during the command, which may have partly run/);
    await Deno.lstat(socket); // Left by the killed agent.
    assertOk(await lab.exec(pod, "DEL", slow), "DEL without an agent");
    await assertNothingLeft(lab, pod);
    await lab.startAgent(1);
    const again = await lab.pod(1, "again");
    assertOk(await lab.add(again));
    assert.ok(await startedByAgent(lab, again));
    assertOk(await lab.del(again), "DEL");
  },
);

labTest(
  "agent: a second agent for the node is refused; requests not from a call of this version are refused and run nothing",
  { nodes: 1 },
  async (lab) => {
    await lab.startAgent(1);
    const socket = agentSocketOf(lab);
    const second = await new Deno.Command("ip", {
      args: ["netns", "exec", lab.nodeNetns(1), join(lab.cniPath[0], "strongswan"), "agent"],
      stdin: "null",
    }).output();
    assert.equal(second.code, 1);
    assert.match(
      new TextDecoder().decode(second.stderr),
      /an agent already serves this network namespace/,
    );
    await Deno.lstat(socket); // Still the first agent's.
    const pod = await lab.pod(1, "probe");
    const env = {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: pod.netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: lab.cniPath.join(":"),
    };
    const stdin = JSON.stringify(lab.config(1));
    const refusals: [string, RegExp][] = [
      ["not json", /unreadable request/],
      [
        JSON.stringify({ version: "0.0.0", env, stdin }),
        /the agent runs version .* the call 0\.0\.0/,
      ],
      [
        JSON.stringify({ version: PLUGIN_VERSION, env: { ...env, LD_PRELOAD: "/x.so" }, stdin }),
        /LD_PRELOAD, not a CNI variable/,
      ],
      ["x".repeat(REQUEST_LIMIT + 1), /too big/],
    ];
    for (const [body, why] of refusals) {
      const reply = await ask(socket, body);
      assert.match(String(reply.refused), why);
    }
    assert.deepEqual(
      await daemonsOf((await attachmentNames(pod.containerId, "eth0")).stateDir),
      [],
    );
    await assertNothingLeft(lab, pod);
  },
);

/**
 * A stand-in agent in a directory of its own that answers every call with
 * reply, or never (undefined), or does not even read it (null: hung).
 */
async function withFakeAgent(
  reply: string | undefined | null,
  fn: (dir: string, calls: () => number) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "strongswan-agent-" });
  const listener = Deno.listen({ transport: "unix", path: agentSocket(dir) });
  let calls = 0;
  const held: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      calls++;
      if (reply !== null) await readMessage(conn, REQUEST_LIMIT);
      if (reply === undefined || reply === null) held.push(conn);
      else {
        await writeAll(conn, new TextEncoder().encode(reply));
        conn.close();
      }
    }
  })();
  try {
    await fn(dir, () => calls);
  } finally {
    listener.close();
    await serving.catch(() => {});
    held.forEach((c) => c.close());
    await Deno.remove(dir, { recursive: true });
  }
}

const request = requestFor((name) => name === "CNI_COMMAND" ? "DEL" : undefined, "{}");

rootTest(
  "agent: a call turns an answer no agent gives into code 106, and a refusal, a hung agent or an untrusted directory into running here",
  async () => {
    const failures: [string | undefined, RegExp][] = [
      ['{"stdout": 1}', /neither a command's outcome nor a refusal/],
      [JSON.stringify({ stdout: "x".repeat(REPLY_LIMIT), exitCode: 0 }), /an answer over/],
      [undefined, /no answer within 0.3 s/],
      ["", /closed the connection without an answer/],
    ];
    for (const [reply, why] of failures) {
      await withFakeAgent(reply, async (dir) => {
        const relayed = await relay(request, dir, 300);
        assert.ok(relayed && "failed" in relayed, `${why}: ${JSON.stringify(relayed)}`);
        assert.equal(relayed.failed.code, Code.AgentFailed);
        assert.match(relayed.failed.message, why);
      });
    }
    // A hung agent that does not read a big call: the call runs here, after CONNECT_TIMEOUT_MS.
    await withFakeAgent(null, async (dir, calls) => {
      const big = requestFor(
        (name) => name === "CNI_COMMAND" ? "ADD" : undefined,
        "x".repeat(STDIN_LIMIT),
      );
      assert.equal(await relay(big, dir), undefined);
      assert.equal(calls(), 1);
    });
    await withFakeAgent('{"refused": "busy"}', async (dir, calls) => {
      assert.equal(await relay(request, dir), undefined);
      assert.equal(calls(), 1);
    });
    await withFakeAgent('{"stdout": "", "exitCode": 0}', async (dir, calls) => {
      assert.deepEqual(await relay(request, dir), { stdout: "", exitCode: 0 });
      await Deno.chmod(dir, 0o777);
      assert.equal(await relay(request, dir), undefined);
      assert.equal(calls(), 1, "a socket in a directory others can write was used");
    });
  },
);
