/**
 * strongswan: a CNI plugin that puts a pod on the node's bridge and makes it
 * an IKEv2 client of a strongSwan hub. This file only dispatches: CNI mode
 * when CNI_COMMAND is set, the operator CLI otherwise.
 */

import { after, useUncancellableTimers } from "./mod/timer.ts";

const encoder = new TextEncoder();

/** A network config with prevResult, or GC's attachment list, is far smaller. */
const STDIN_LIMIT = 4 << 20;
/** Runtimes write the config at once and close stdin. */
const STDIN_TIMEOUT_MS = 10_000;

/**
 * The whole of stdin, or an error message when it is too big or never ends.
 * Plain reads into one buffer: web streams would cost ~4 ms of start-up.
 */
async function readStdin(): Promise<string | { error: string }> {
  let buffer = new Uint8Array(64 * 1024);
  let size = 0;
  let cancel = () => {};
  const expired = new Promise<"timeout">((r) =>
    cancel = after(STDIN_TIMEOUT_MS, () => r("timeout"))
  );
  try {
    for (;;) {
      if (size === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      }
      const got = await Promise.race([Deno.stdin.read(buffer.subarray(size)), expired]);
      if (got === "timeout") {
        return { error: `stdin was not closed within ${STDIN_TIMEOUT_MS / 1000} s` };
      }
      if (got === null) break;
      size += got;
      if (size > STDIN_LIMIT) {
        return { error: `the network configuration exceeds ${STDIN_LIMIT} bytes` };
      }
    }
  } finally {
    cancel();
  }
  return new TextDecoder().decode(buffer.subarray(0, size));
}

async function writeAll(stream: typeof Deno.stdout, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await stream.write(bytes.subarray(off));
}

async function cniMode(): Promise<number> {
  const started = performance.now();
  // The process ends with Deno.exit: cheap timers suffice.
  useUncancellableTimers();
  const { dispatch } = await import("./mod/cni/skel.ts");
  const { handlers } = await import("./mod/plugin/handlers.ts");
  const { configureLog, log } = await import("./mod/log.ts");
  const getEnv = (name: string) => Deno.env.get(name);
  // VERSION needs no config: it answers without waiting for stdin.
  const stdin = getEnv("CNI_COMMAND") === "VERSION" ? "" : await readStdin();
  const outcome = await dispatch(
    getEnv,
    stdin,
    handlers,
    (conf) => configureLog(conf.logFile, conf.logLevel),
  );
  if (outcome.stdout) await writeAll(Deno.stdout, `${outcome.stdout}\n`);
  const { command, error, network, containerId, ifname, pod, virtualIp } = outcome.summary;
  const fields = [
    ["network", network],
    ["container", containerId],
    ["if", ifname],
    ["pod", pod],
    ["vip", virtualIp],
  ].filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(" ");
  const took = `${(performance.now() - started).toFixed(0)}ms`;
  if (command !== "VERSION") {
    if (error) {
      log.error(
        `${command} failed ${took} code=${error.code} ${JSON.stringify(error.msg)} ${fields}`,
      );
    } else log.info(`${command} ok ${took} ${fields}`);
  }
  return outcome.exitCode;
}

async function cliMode(): Promise<number> {
  const { runCli } = await import("./mod/cli/main.ts");
  const outcome = await runCli(Deno.args);
  if (outcome.stdout) await writeAll(Deno.stdout, outcome.stdout);
  if (outcome.stderr) await writeAll(Deno.stderr, outcome.stderr);
  return outcome.exitCode;
}

if (import.meta.main) {
  Deno.exit(Deno.env.get("CNI_COMMAND") ? await cniMode() : await cliMode());
}
