import assert from "node:assert/strict";
import { CniError, Code } from "../../mod/cni/errors.ts";
import { type Attachment, dispatch, type Handlers } from "../../mod/cni/skel.ts";
import { config } from "./helpers.ts";

const env = (command: string) => (k: string) =>
  ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: "c1",
    CNI_NETNS: "/run/netns/p",
    CNI_IFNAME: "eth0",
    CNI_PATH: "/usr/lib/cni",
  })[k];

function recorder(overrides: Partial<Handlers> = {}) {
  const calls: string[] = [];
  const handlers: Handlers = {
    add: () => {
      calls.push("add");
      return Promise.resolve({
        interfaces: [{ name: "eth0", sandbox: "/run/netns/p" }],
        ips: [{ address: "10.173.0.9/32", interface: 0 }],
        routes: [],
        dns: {},
      });
    },
    del: () => (calls.push("del"), Promise.resolve()),
    check: () => (calls.push("check"), Promise.resolve()),
    status: () => (calls.push("status"), Promise.resolve()),
    gc: (
      _e,
      _c,
      valid: Attachment[],
    ) => (calls.push(`gc:${JSON.stringify(valid)}`), Promise.resolve()),
    ...overrides,
  };
  return { calls, handlers };
}

Deno.test("skel: VERSION lists every supported version, whatever stdin holds", async () => {
  const out = await dispatch(env("VERSION"), "", recorder().handlers);
  assert.equal(out.exitCode, 0);
  assert.deepEqual(JSON.parse(out.stdout), {
    cniVersion: "1.1.0",
    supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
  });
});

Deno.test("skel: ADD prints the result in the config's version", async () => {
  const { calls, handlers } = recorder();
  const out = await dispatch(env("ADD"), JSON.stringify(config({ cniVersion: "0.4.0" })), handlers);
  assert.equal(out.exitCode, 0);
  assert.deepEqual(calls, ["add"]);
  const result = JSON.parse(out.stdout);
  assert.equal(result.cniVersion, "0.4.0");
  assert.equal(result.ips[0].version, "4");
});

Deno.test("skel: DEL, CHECK, STATUS print nothing on success", async () => {
  for (const command of ["DEL", "CHECK", "STATUS"]) {
    const { calls, handlers } = recorder();
    const out = await dispatch(
      env(command),
      JSON.stringify(config({ cniVersion: "1.1.0" })),
      handlers,
    );
    assert.equal(out.stdout, "");
    assert.equal(out.exitCode, 0);
    assert.equal(out.summary.command, command);
    assert.equal(out.summary.containerId, command === "STATUS" ? undefined : "c1");
    assert.deepEqual(calls, [command.toLowerCase()]);
  }
});

Deno.test("skel: GC hands over cni.dev/valid-attachments", async () => {
  const { calls, handlers } = recorder();
  const valid = [{ containerID: "a", ifname: "eth0" }];
  const conf = config({ cniVersion: "1.1.0", "cni.dev/valid-attachments": valid });
  const out = await dispatch(env("GC"), JSON.stringify(conf), handlers);
  assert.equal(out.exitCode, 0);
  assert.deepEqual(calls, [`gc:${JSON.stringify(valid)}`]);
  const bad = config({ cniVersion: "1.1.0", "cni.dev/valid-attachments": [{ id: 1 }] });
  assert.equal(
    JSON.parse((await dispatch(env("GC"), JSON.stringify(bad), handlers)).stdout).code,
    7,
  );
});

Deno.test("skel: commands newer than the config's version are code 1", async () => {
  for (const [command, version] of [["CHECK", "0.3.1"], ["STATUS", "1.0.0"], ["GC", "1.0.0"]]) {
    const out = await dispatch(
      env(command),
      JSON.stringify(config({ cniVersion: version })),
      recorder().handlers,
    );
    assert.equal(out.exitCode, 1);
    assert.equal(JSON.parse(out.stdout).code, Code.IncompatibleVersion);
  }
});

Deno.test("skel: errors become spec JSON with the config's version, code and message", async () => {
  const { handlers } = recorder({
    add: () => Promise.reject(new CniError(Code.TryAgainLater, "hub down", "more")),
  });
  const out = await dispatch(env("ADD"), JSON.stringify(config({ cniVersion: "0.4.0" })), handlers);
  assert.equal(out.exitCode, 1);
  assert.deepEqual(JSON.parse(out.stdout), {
    cniVersion: "0.4.0",
    code: 11,
    msg: "hub down",
    details: "more",
  });
});

Deno.test("skel: an unexpected exception is still a CNI error (code 5)", async () => {
  const { handlers } = recorder({ del: () => Promise.reject(new Error("boom")) });
  const out = await dispatch(env("DEL"), JSON.stringify(config()), handlers);
  const e = JSON.parse(out.stdout);
  assert.equal(e.code, Code.IoFailure);
  assert.equal(e.details, "boom");
});

Deno.test("skel: bad env is code 4, bad JSON code 6, before any handler runs", async () => {
  const { calls, handlers } = recorder();
  const noId = (k: string) => (k === "CNI_CONTAINERID" ? undefined : env("ADD")(k));
  assert.equal(
    JSON.parse((await dispatch(noId, JSON.stringify(config()), handlers)).stdout).code,
    4,
  );
  assert.equal(JSON.parse((await dispatch(env("ADD"), "{", handlers)).stdout).code, 6);
  assert.deepEqual(calls, []);
});

Deno.test("skel: the summary tells the log what happened: network, container, virtual IP or the error", async () => {
  const ok = await dispatch(env("ADD"), JSON.stringify(config()), recorder().handlers);
  assert.deepEqual(ok.summary, {
    command: "ADD",
    containerId: "c1",
    ifname: "eth0",
    network: "net",
    virtualIp: "10.173.0.9/32",
  });
  const { handlers } = recorder({
    add: () => Promise.reject(new CniError(Code.TryAgainLater, "hub down")),
  });
  const failed = await dispatch(env("ADD"), JSON.stringify(config()), handlers);
  assert.deepEqual(failed.summary.error, { code: 11, msg: "hub down" });
});
