import { assertThrowsCni } from "./helpers.ts";
import assert from "node:assert/strict";
import { parseCniArgs, parseEnv } from "../../mod/cni/env.ts";
import { Code } from "../../mod/cni/errors.ts";

const base = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "abc123",
  CNI_NETNS: "/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
};
const getter = (env: Record<string, string | undefined>) => (k: string) => env[k];

Deno.test("env: ADD with everything parses, CNI_PATH split", () => {
  const env = parseEnv(getter({ ...base, CNI_ARGS: "K8S_POD_NAME=a;IgnoreUnknown=1" }));
  assert.equal(env.command, "ADD");
  assert.deepEqual(env.path, ["/opt/cni/bin", "/usr/lib/cni"]);
  assert.deepEqual(env.args, { K8S_POD_NAME: "a", IgnoreUnknown: "1" });
});

for (const name of ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]) {
  Deno.test(`env: ADD without ${name} is code 4 naming it`, () => {
    const err = assertThrowsCni(
      () => parseEnv(getter({ ...base, [name]: undefined })),
      Code.InvalidEnv,
    );
    assert.match(err.message, new RegExp(name));
  });
}

Deno.test("env: DEL needs no netns (the runtime may have lost it)", () => {
  const env = parseEnv(getter({ ...base, CNI_COMMAND: "DEL", CNI_NETNS: undefined }));
  assert.equal(env.netns, "");
});

Deno.test("env: VERSION needs nothing else; STATUS and GC need CNI_PATH", () => {
  assert.equal(parseEnv(getter({ CNI_COMMAND: "VERSION" })).command, "VERSION");
  assertThrowsCni(() => parseEnv(getter({ CNI_COMMAND: "STATUS" })), Code.InvalidEnv);
  assert.equal(parseEnv(getter({ CNI_COMMAND: "GC", CNI_PATH: "/x" })).command, "GC");
});

Deno.test("env: unknown or missing command is code 4", () => {
  assertThrowsCni(() => parseEnv(getter({ ...base, CNI_COMMAND: "PUT" })), Code.InvalidEnv);
  assertThrowsCni(() => parseEnv(getter({})), Code.InvalidEnv);
});

Deno.test("env: malformed values are code 4", () => {
  for (
    const bad of [
      { CNI_CONTAINERID: "-starts-with-dash" },
      { CNI_CONTAINERID: "has space" },
      { CNI_CONTAINERID: "a".repeat(201) },
      { CNI_IFNAME: "much-too-long-name" },
      { CNI_IFNAME: "a/b" },
      { CNI_IFNAME: ".." },
      { CNI_NETNS: "relative/path" },
      { CNI_NETNS: "/run/netns/with space" },
      { CNI_NETNS: '/run/netns/x"' },
      { CNI_NETNS: "/run/netns/x#y" },
      { CNI_NETNS: "/run/netns/x\\y" },
      { CNI_NETNS: "/run/netns/x\u0001" },
      // Through Multus, an interface name can come from a pod annotation.
      { CNI_IFNAME: '"e""netns"x#' },
      { CNI_IFNAME: "e#1" },
      { CNI_IFNAME: "eth\n0" },
      { CNI_IFNAME: "e'0" },
      { CNI_ARGS: "novalue" },
    ]
  ) {
    assertThrowsCni(() => parseEnv(getter({ ...base, ...bad })), Code.InvalidEnv);
  }
});

Deno.test("env: CNI_ARGS keeps '=' inside values", () => {
  assert.deepEqual(parseCniArgs("A=b=c;D="), { A: "b=c", D: "" });
  assert.deepEqual(parseCniArgs(""), {});
});

Deno.test("env: interface names allow the kernel's safe set only", () => {
  for (const ok of ["eth0", "net1", "eth0.100", "a_b-c", "abcdefghijklmno"]) {
    assert.equal(parseEnv(getter({ ...base, CNI_IFNAME: ok })).ifname, ok);
  }
  const err = assertThrowsCni(
    () => parseEnv(getter({ ...base, CNI_IFNAME: "e#1" })),
    Code.InvalidEnv,
  );
  assert.match(err.message, /may hold only letters, digits, '_', '\.' and '-'/);
});

Deno.test("env: the pod's Kubernetes name comes from CNI_ARGS when it is a valid name", () => {
  const env = parseEnv(getter({
    ...base,
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0",
  }));
  assert.deepEqual(env.pod, { namespace: "default", name: "web-0" });
  const odd = parseEnv(
    getter({ ...base, CNI_ARGS: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=Web/0" }),
  );
  assert.equal(odd.pod, undefined);
});

Deno.test("env: VERSION ignores what libcni sets to 'dummy' when it validates a config", () => {
  const env = parseEnv(getter({
    CNI_COMMAND: "VERSION",
    CNI_CONTAINERID: "dummy",
    CNI_NETNS: "dummy",
    CNI_IFNAME: "dummy",
    CNI_ARGS: "garbage",
  }));
  assert.equal(env.command, "VERSION");
  assert.equal(env.netns, "");
  for (const command of ["STATUS", "GC"]) {
    assert.equal(
      parseEnv(getter({ CNI_COMMAND: command, CNI_NETNS: "dummy", CNI_PATH: "/x" })).netns,
      "",
    );
  }
});
