/**
 * Running the plugin exactly as a CNI runtime does: exec a file named
 * `strongswan` found on CNI_PATH, CNI_* in the environment, config on stdin.
 * The file is a two-line launcher for what `deno task build` made: the
 * compiled executable if there is one (or STRONGSWAN_BIN), else the bundle
 * under `deno run`. What is tested is what ships.
 */

import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { denoRunLines } from "../mod/runtime.ts";

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
export const REFERENCE_PLUGINS = "/usr/lib/cni";

export const BUNDLE = join(REPO, "dist", "strongswan.js");
export const EXECUTABLE = join(REPO, "dist", "strongswan");

/** The compiled executable the tests should exec, if there is one. */
export function builtExecutable(): string | undefined {
  const given = Deno.env.get("STRONGSWAN_BIN");
  if (given) return given;
  try {
    return Deno.statSync(EXECUTABLE).isFile ? EXECUTABLE : undefined;
  } catch {
    return undefined;
  }
}

/** Writes the launcher into dir and returns its path. */
export async function installLauncher(dir: string): Promise<string> {
  const path = join(dir, "strongswan");
  try {
    Deno.statSync(BUNDLE);
  } catch {
    throw new Error(`${BUNDLE} is missing: run deno task build (deno task test does)`);
  }
  const bin = builtExecutable();
  const target = bin ? `exec ${bin} "$@"\n` : denoRunLines(BUNDLE);
  await Deno.writeTextFile(path, `#!/bin/sh\n${target}`, { mode: 0o755 });
  return path;
}

export interface PluginCall {
  command: "ADD" | "DEL" | "CHECK" | "STATUS" | "GC" | "VERSION";
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_PATH directories. */
  path: string[];
  config: unknown;
  /** Run inside this named netns (the node), as kubelet would run on that node. */
  nodeNetns?: string;
  /** Which plugin file on CNI_PATH to run; default "strongswan". */
  type?: string;
  /** SIGKILL the plugin this long after it starts, as a crash or an impatient runtime would. */
  killAfterMs?: number;
  /** The plugin's PATH, when a test plays a runtime that sets its own. */
  processPath?: string;
  cniArgs?: string;
}

export interface PluginOutput {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
  ms: number;
}

export async function callPlugin(call: PluginCall): Promise<PluginOutput> {
  const type = call.type ?? "strongswan";
  const binary = call.path.map((d) => join(d, type)).find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!binary) throw new Error(`${type} not found on ${call.path.join(":")}`);
  const argv = call.nodeNetns ? ["ip", "netns", "exec", call.nodeNetns, binary] : [binary];
  const env: Record<string, string> = {
    PATH: call.processPath ?? Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: call.command,
    CNI_PATH: call.path.join(":"),
  };
  for (const name of ["HOME", "DENO_DIR", "STRONGSWAN_CNI_LOG"]) {
    const value = Deno.env.get(name);
    if (value) env[name] = value;
  }
  if (call.containerId) env.CNI_CONTAINERID = call.containerId;
  if (call.netns !== undefined) env.CNI_NETNS = call.netns;
  if (call.ifname) env.CNI_IFNAME = call.ifname;
  if (call.cniArgs) env.CNI_ARGS = call.cniArgs;
  const start = performance.now();
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env,
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      typeof call.config === "string" ? call.config : JSON.stringify(call.config),
    ),
  );
  await writer.close();
  const timer = call.killAfterMs === undefined ? undefined : setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // It ended just before: nothing to kill.
    }
  }, call.killAfterMs);
  const out = await child.output();
  clearTimeout(timer);
  const ms = performance.now() - start;
  const stdout = new TextDecoder().decode(out.stdout);
  let json: Record<string, unknown> | undefined;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { code: out.code, stdout, stderr: new TextDecoder().decode(out.stderr), json, ms };
}
