/** From stdin bytes to a validated NetConf (code 6 for syntax, 1 for version, 7 for schema). */

import { CniError, Code } from "../cni/errors.ts";
import type { Dns } from "../cni/result.ts";
import { isSupported, SUPPORTED_VERSIONS, VERSION_WHEN_ABSENT } from "../cni/version.ts";
import { describeIssues, type Path } from "./issues.ts";
import { parseJsonc } from "./jsonc.ts";
import { type Datapath, netConfSchema } from "./schema.ts";
import { Secret } from "./secret.ts";
import type { LogLevel } from "../log.ts";

export interface Vpn {
  serverIP: string;
  /** What the hub must authenticate as (serverIP unless set). */
  serverIdentity: string;
  virtualSubnet: string;
  /** The hub's own address in virtualSubnet, when the config names it: a pod refuses it. */
  hubAddress?: string;
  hostSubnet: string;
  /** The inline PSK; absent when it comes from pskFile (read by readPsk, on ADD only). */
  psk?: Secret;
  pskFile?: string;
  datapath: Datapath;
  timeout: number;
}

export interface NetConf {
  /** As given, or the version the reference plugins assume when it is absent. */
  cniVersion: string;
  name: string;
  type: string;
  vpn: Vpn;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  ipam: { type: string; [key: string]: unknown };
  /** Seconds the IPAM plugin may run. */
  ipamTimeout: number;
  /** "" for none. */
  logFile: string;
  logLevel: LogLevel;
  dns?: Dns;
  prevResult?: unknown;
  /** The parsed document, for what is passed on (IPAM input, render). */
  raw: Record<string, unknown>;
}

/**
 * The config as the plugin uses it (code 1 for an unknown version, 7 for
 * anything else wrong). locate, given by the CLI, adds where in the file
 * each bad field is.
 */
export function validateNetConf(
  value: unknown,
  locate?: (path: Path) => string | undefined,
): NetConf {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CniError(Code.DecodeFailed, "network configuration must be a JSON object");
  }
  const raw = value as Record<string, unknown>;
  if (raw.cniVersion !== undefined && typeof raw.cniVersion === "string") {
    if (!isSupported(raw.cniVersion)) {
      throw new CniError(
        Code.IncompatibleVersion,
        `cniVersion ${raw.cniVersion} is not supported; use one of ${
          SUPPORTED_VERSIONS.join(", ")
        }`,
      );
    }
  }
  const parsed = netConfSchema.safeParse(raw);
  if (!parsed.success) {
    const details = describeIssues(parsed.error.issues, value, locate);
    throw new CniError(Code.InvalidConfig, `invalid network configuration: ${details}`);
  }
  const c = parsed.data;
  const inline = c.vpn.PSK ?? c.vpn.psk;
  return {
    cniVersion: c.cniVersion ?? VERSION_WHEN_ABSENT,
    name: c.name,
    type: c.type,
    vpn: {
      serverIP: c.vpn.serverIP,
      serverIdentity: c.vpn.serverIdentity ?? c.vpn.serverIP,
      virtualSubnet: c.vpn.virtualSubnet,
      ...(c.vpn.hubAddress !== undefined ? { hubAddress: c.vpn.hubAddress } : {}),
      hostSubnet: c.vpn.hostSubnet,
      ...(inline !== undefined ? { psk: new Secret(inline) } : {}),
      ...(c.vpn.pskFile !== undefined ? { pskFile: c.vpn.pskFile } : {}),
      datapath: c.vpn.datapath,
      timeout: c.vpn.timeout,
    },
    bridge: c.bridge,
    // As in the reference bridge plugin, a default gateway is also a gateway.
    isGateway: c.isGateway || c.isDefaultGateway,
    isDefaultGateway: c.isDefaultGateway,
    forceAddress: c.forceAddress,
    ipMasq: c.ipMasq,
    ...(c.mtu !== undefined ? { mtu: c.mtu } : {}),
    hairpinMode: c.hairpinMode,
    promiscMode: c.promiscMode,
    ipam: c.ipam,
    ipamTimeout: c.ipamTimeout,
    logFile: c.logFile,
    logLevel: c.logLevel,
    ...(c.dns !== undefined ? { dns: c.dns } : {}),
    ...(c.prevResult !== undefined ? { prevResult: c.prevResult } : {}),
    raw,
  };
}

export async function parseNetConf(text: string): Promise<NetConf> {
  return validateNetConf(await parseJsonc(text));
}

/** The document with the PSK masked, for printing. */
export function redacted(raw: Record<string, unknown>): Record<string, unknown> {
  const vpn = raw.vpn as Record<string, unknown> | undefined;
  if (!vpn) return raw;
  const masked = { ...vpn };
  for (const key of ["PSK", "psk"]) if (key in masked) masked[key] = "<redacted>";
  return { ...raw, vpn: masked };
}

/**
 * What an IPAM plugin gets on stdin: plain JSON, without the vpn section (no
 * PSK). 1.1.0 results are 1.0.0's, so IPAM plugins that predate 1.1.0 (Debian's
 * host-local) are asked in 1.0.0.
 */
export function ipamInput(conf: NetConf): string {
  const { vpn: _vpn, ...rest } = conf.raw;
  const cniVersion = conf.cniVersion === "1.1.0" ? "1.0.0" : conf.cniVersion;
  return JSON.stringify({ ...rest, cniVersion });
}
