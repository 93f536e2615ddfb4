/** Delegation to the IPAM plugin named by ipam.type, found on CNI_PATH only. */

import type { AttachmentTarget, CniEnv } from "../cni/env.ts";
import { CniError, Code } from "../cni/errors.ts";
import { decodeResult, type Result } from "../cni/result.ts";
import { ipamInput, type NetConf } from "../config/load.ts";
import { ExecError, run } from "../exec.ts";
import { canonicalCidr, overlaps, parseCidr } from "./cidr.ts";

/** An IPAM result is a few hundred bytes; a plugin printing megabytes is broken or hostile. */
const IPAM_OUTPUT_LIMIT = 1 << 20;

/** The IPAM binary: the first CNI_PATH directory that holds it. */
export function findPlugin(type: string, path: string[]): string {
  for (const dir of path) {
    const candidate = `${dir}/${type}`;
    try {
      if (Deno.statSync(candidate).isFile) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  throw new CniError(
    Code.IpamFailed,
    `IPAM plugin "${type}" was not found in CNI_PATH (${path.join(":") || "empty"})`,
  );
}

/** What the plugin said, from its CNI error JSON on stdout, else its stderr. */
function pluginMessage(err: ExecError): string {
  try {
    const e = JSON.parse(err.stdout);
    if (typeof e.msg === "string") return e.details ? `${e.msg}: ${e.details}` : e.msg;
  } catch {
    // Not JSON: fall through.
  }
  return err.stderr.trim() || err.message;
}

/** Runs the IPAM plugin; returns what it printed. */
async function execIpam(
  command: "ADD" | "DEL" | "CHECK",
  target: AttachmentTarget,
  env: CniEnv,
  conf: NetConf,
): Promise<string> {
  const binary = findPlugin(conf.ipam.type, env.path);
  try {
    const { stdout } = await run([binary], {
      stdin: ipamInput(conf),
      timeoutMs: conf.ipamTimeout * 1000,
      outputLimit: IPAM_OUTPUT_LIMIT,
      untrusted: true,
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: target.containerId,
        CNI_NETNS: target.netns,
        CNI_IFNAME: target.ifname,
        CNI_PATH: env.path.join(":"),
        CNI_ARGS: Object.entries(env.args).map(([k, v]) => `${k}=${v}`).join(";"),
      },
    });
    return stdout;
  } catch (err) {
    if (!(err instanceof ExecError)) throw err;
    throw new CniError(
      Code.IpamFailed,
      `IPAM plugin "${conf.ipam.type}" failed on ${command}: ${pluginMessage(err)}`,
    );
  }
}

/**
 * Why IPAM's addresses cannot be used (pure): a pod's bridge subnet inside
 * a tunnelled subnet would send the tunnel's traffic over the bridge.
 */
export function podAddressProblem(conf: NetConf, addresses: string[]): string | undefined {
  for (const address of addresses) {
    const c = parseCidr(address)!;
    for (const key of ["virtualSubnet", "hostSubnet"] as const) {
      if (overlaps(c, parseCidr(conf.vpn[key])!)) {
        return `IPAM plugin "${conf.ipam.type}" gave ${address}, whose subnet ${
          canonicalCidr(c)
        } overlaps vpn.${key} ${conf.vpn[key]}: give IPAM a range outside both tunnelled subnets`;
      }
    }
  }
  return undefined;
}

/** IPAM ADD: the pod's addresses (IPv4 only, for now). */
export async function ipamAdd(
  target: AttachmentTarget,
  env: CniEnv,
  conf: NetConf,
): Promise<Result> {
  const stdout = await execIpam("ADD", target, env, conf);
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch {
    throw new CniError(Code.IpamFailed, `IPAM plugin "${conf.ipam.type}" printed no JSON result`);
  }
  const result = decodeResult(
    raw,
    conf.cniVersion,
    `IPAM plugin "${conf.ipam.type}" result`,
    Code.IpamFailed,
  );
  if (result.ips.length === 0) {
    throw new CniError(Code.IpamFailed, `IPAM plugin "${conf.ipam.type}" returned no IP address`);
  }
  if (result.ips.some((ip) => ip.address.includes(":"))) {
    throw new CniError(
      Code.InvalidConfig,
      "IPv6 pod addresses are not supported yet; configure an IPv4 range in ipam",
    );
  }
  const problem = podAddressProblem(conf, result.ips.map((ip) => ip.address));
  if (problem) throw new CniError(Code.InvalidConfig, problem);
  return result;
}

/** IPAM DEL (release the lease) or CHECK. */
export async function ipamCall(
  command: "DEL" | "CHECK",
  target: AttachmentTarget,
  env: CniEnv,
  conf: NetConf,
): Promise<void> {
  await execIpam(command, target, env, conf);
}
