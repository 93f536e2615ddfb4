/**
 * The CNI boundary: environment and stdin in, one JSON document and an exit
 * code out. Every error, whatever threw it, becomes the spec's error JSON here.
 */

import type { NetConf } from "../config/load.ts";
import { type CniEnv, parseEnv } from "./env.ts";
import { asCniError, CniError, Code } from "./errors.ts";
import { encodeResult, type Result } from "./result.ts";
import { compareVersions, INTRODUCED_IN, LATEST_VERSION, SUPPORTED_VERSIONS } from "./version.ts";

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface Handlers {
  add(env: CniEnv, conf: NetConf): Promise<Result>;
  del(env: CniEnv, conf: NetConf): Promise<void>;
  check(env: CniEnv, conf: NetConf): Promise<void>;
  status(env: CniEnv, conf: NetConf): Promise<void>;
  gc(env: CniEnv, conf: NetConf, valid: Attachment[]): Promise<void>;
}

/** What one command did, for the log. */
export interface CommandSummary {
  command: string;
  network?: string;
  containerId?: string;
  ifname?: string;
  /** Kubernetes namespace/name, when the runtime said. */
  pod?: string;
  virtualIp?: string;
  error?: { code: number; msg: string };
}

export interface Outcome {
  /** The JSON for stdout, or "" when the command prints nothing. */
  stdout: string;
  exitCode: number;
  summary: CommandSummary;
}

function validAttachments(raw: Record<string, unknown>): Attachment[] {
  const list = raw["cni.dev/valid-attachments"] ?? [];
  if (!Array.isArray(list)) {
    throw new CniError(Code.InvalidConfig, "cni.dev/valid-attachments must be a list");
  }
  return list.map((a) => {
    if (typeof a?.containerID !== "string" || typeof a?.ifname !== "string") {
      throw new CniError(
        Code.InvalidConfig,
        "each of cni.dev/valid-attachments needs containerID and ifname",
      );
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

/** stdin as read (main.ts bounds its size and the wait for it), or why it could not be. */
export type Stdin = string | { error: string };

/**
 * Runs one command. onConfig, if given, sees the config as soon as it is
 * parsed (main.ts points the log at the config's logFile).
 */
export async function dispatch(
  getEnv: (name: string) => string | undefined,
  stdin: Stdin,
  handlers: Handlers,
  onConfig: (conf: NetConf) => void = () => {},
): Promise<Outcome> {
  let cniVersion = LATEST_VERSION;
  const summary: CommandSummary = { command: getEnv("CNI_COMMAND") ?? "" };
  try {
    const env = parseEnv(getEnv);
    if (env.containerId) summary.containerId = env.containerId;
    if (env.ifname) summary.ifname = env.ifname;
    if (env.pod) summary.pod = `${env.pod.namespace}/${env.pod.name}`;
    if (env.command === "VERSION") {
      return {
        stdout: JSON.stringify({
          cniVersion: LATEST_VERSION,
          supportedVersions: SUPPORTED_VERSIONS,
        }),
        exitCode: 0,
        summary,
      };
    }
    if (typeof stdin !== "string") {
      throw new CniError(Code.IoFailure, `cannot read the network configuration: ${stdin.error}`);
    }
    // Loaded after VERSION, which needs no config (nor its schema).
    const { parseNetConf } = await import("../config/load.ts");
    const conf = await parseNetConf(stdin);
    cniVersion = conf.cniVersion;
    summary.network = conf.name;
    onConfig(conf);
    const since = INTRODUCED_IN[env.command];
    if (since && compareVersions(conf.cniVersion, since) < 0) {
      throw new CniError(
        Code.IncompatibleVersion,
        `config version ${conf.cniVersion} does not allow ${env.command} (needs ${since} or later)`,
      );
    }
    switch (env.command) {
      case "ADD": {
        const result = await handlers.add(env, conf);
        summary.virtualIp = result.ips[0]?.address;
        return {
          stdout: JSON.stringify(encodeResult(result, conf.cniVersion)),
          exitCode: 0,
          summary,
        };
      }
      case "DEL":
        await handlers.del(env, conf);
        break;
      case "CHECK":
        await handlers.check(env, conf);
        break;
      case "STATUS":
        await handlers.status(env, conf);
        break;
      case "GC":
        await handlers.gc(env, conf, validAttachments(conf.raw));
        break;
    }
    return { stdout: "", exitCode: 0, summary };
  } catch (err) {
    const e = asCniError(err, Code.IoFailure, "unexpected failure");
    summary.error = { code: e.code, msg: e.message };
    return {
      summary,
      stdout: JSON.stringify({
        cniVersion,
        code: e.code,
        msg: e.message,
        ...(e.details ? { details: e.details } : {}),
      }),
      exitCode: 1,
    };
  }
}
