import assert from "node:assert/strict";
import {
  AGENT_DIR,
  agentSocket,
  parseReply,
  parseRequest,
  requestFor,
} from "../../mod/agent/protocol.ts";
import { PLUGIN_VERSION } from "../../mod/version.ts";

Deno.test("agent protocol: a call hands over its CNI variables and stdin, nothing else", () => {
  const env: Record<string, string> = {
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "c1",
    CNI_PATH: "/opt/cni/bin",
    PATH: "/usr/bin",
    LD_PRELOAD: "/x.so",
  };
  const request = requestFor((name) => env[name], "{}");
  assert.deepEqual(request, {
    version: PLUGIN_VERSION,
    env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_PATH: "/opt/cni/bin" },
    stdin: "{}",
  });
  assert.deepEqual(parseRequest(JSON.stringify(request)), request);
});

Deno.test("agent protocol: a request that is not a call's is refused, saying why", () => {
  const ok = { version: "1", env: { CNI_COMMAND: "DEL" }, stdin: "" };
  const bad: [unknown, RegExp][] = [
    [[], /not a JSON object/],
    [{ ...ok, version: 1 }, /no version/],
    [{ ...ok, stdin: null }, /no stdin/],
    [{ ...ok, env: "CNI_COMMAND=DEL" }, /no env/],
    [{ ...ok, env: { PATH: "/tmp" } }, /PATH, not a CNI variable/],
    [{ ...ok, env: { CNI_COMMAND: 1 } }, /CNI_COMMAND is not a string/],
  ];
  for (const [raw, why] of bad) assert.throws(() => parseRequest(JSON.stringify(raw)), why);
  assert.throws(() => parseRequest("{"), SyntaxError);
});

Deno.test("agent protocol: a reply is an outcome with an exit code a process can have, or a refusal", () => {
  assert.deepEqual(parseReply('{"stdout":"{}","exitCode":1}'), { stdout: "{}", exitCode: 1 });
  assert.deepEqual(parseReply('{"refused":"version"}'), { refused: "version" });
  for (
    const text of [
      '{"stdout":"","exitCode":256}',
      '{"stdout":"","exitCode":0.5}',
      '{"stdout":2}',
      "[]",
    ]
  ) {
    assert.throws(() => parseReply(text), /neither/, text);
  }
});

Deno.test("agent protocol: the socket is named after this process's network namespace", () => {
  const ns = Deno.readLinkSync("/proc/self/ns/net").replace(/\D/g, "");
  assert.equal(agentSocket(), `${AGENT_DIR}/agent-net${ns}.sock`);
  assert.equal(agentSocket("/tmp/x"), `/tmp/x/agent-net${ns}.sock`);
});
