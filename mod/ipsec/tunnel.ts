/** Bringing a pod's tunnel up and down over its daemon's vici socket. */

import { CniError, Code } from "../cni/errors.ts";
import type { NetConf } from "../config/load.ts";
import type { Secret } from "../config/secret.ts";
import { broadcastOf, contains, formatIPv4, networkOf, parseCidr, parseIPv4 } from "../net/cidr.ts";
import { CONNECTION, ESP_PROPOSAL, podConnection } from "./config.ts";
import { assertSuccess, ViciClient, type ViciMessage } from "./vici.ts";

/** Extra time vici gets beyond its own timeout before the plugin gives up on it. */
const VICI_GRACE_MS = 2000;
/** How long the hub may take to answer a DELETE at DEL. */
const TERMINATE_TIMEOUT_MS = 2000;

/** A CNI error that says why the tunnel did not come up (pure). */
export function classifyFailure(
  errmsg: string,
  log: string[],
  vpn: { serverIP: string; serverIdentity: string; timeout: number },
): CniError {
  const { serverIP, serverIdentity, timeout: timeoutSec } = vpn;
  const all = [errmsg, ...log].join("\n");
  const details = all.trim();
  if (
    /AUTHENTICATION_FAILED|authentication of .* failed|MAC verification failed|constraint check failed/i
      .test(all)
  ) {
    // The hub answers a wrong key and an identity it does not have alike.
    return new CniError(
      Code.TunnelRejected,
      `hub ${serverIP} rejected the pre-shared key or the identity asked for: vpn.PSK must match the hub's, and vpn.serverIdentity (${serverIdentity}) must be the hub's own identity`,
      details,
    );
  }
  if (/NO_PROPOSAL_CHOSEN/.test(all)) {
    return new CniError(
      Code.TunnelRejected,
      `hub ${serverIP} accepted none of the proposals (${ESP_PROPOSAL}): render its config with server-config`,
      details,
    );
  }
  if (/TS_UNACCEPTABLE/.test(all)) {
    return new CniError(
      Code.TunnelRejected,
      `hub ${serverIP} refused the traffic selectors: vpn.virtualSubnet and vpn.hostSubnet must match the hub's`,
      details,
    );
  }
  if (/INTERNAL_ADDRESS_FAILURE|FAILED_CP_REQUIRED/.test(all)) {
    return new CniError(
      Code.TunnelRejected,
      `hub ${serverIP} assigned no virtual IP (is its pool exhausted?)`,
      details,
    );
  }
  return new CniError(
    Code.TryAgainLater,
    `hub ${serverIP} did not complete IKE within ${timeoutSec} s: is it running and reachable on UDP 500 and 4500?`,
    details,
  );
}

const isSection = (v: unknown): v is ViciMessage =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The IKE_SA named CONNECTION as list-sas reports it, if any (one round trip, bounded). */
export async function listSa(client: ViciClient): Promise<ViciMessage | undefined> {
  let found: ViciMessage | undefined;
  await client.request("list-sas", { ike: CONNECTION }, ["list-sa"], (_name, msg) => {
    if (isSection(msg[CONNECTION])) found = msg[CONNECTION];
  });
  return found;
}

/**
 * Why the hub's answer cannot be the pod's address (pure): it must be an
 * IPv4 address inside virtualSubnet, and neither the subnet's network or
 * broadcast address nor vpn.hubAddress when the config names one. Any other
 * pool address is fine: a hub configured by hand may hand out the first.
 */
export function virtualIpProblem(
  vip: string,
  vpn: { virtualSubnet: string; hubAddress?: string },
): string | undefined {
  const { virtualSubnet, hubAddress } = vpn;
  const addr = parseIPv4(vip);
  const subnet = parseCidr(virtualSubnet)!;
  if (addr === undefined) return "is not an IPv4 address";
  if (!contains(subnet, addr)) return `lies outside vpn.virtualSubnet ${virtualSubnet}`;
  if (subnet.prefix < 31 && (addr === networkOf(subnet) || addr === broadcastOf(subnet))) {
    return `is the network or broadcast address of ${virtualSubnet}`;
  }
  if (hubAddress !== undefined && formatIPv4(addr) === hubAddress) {
    return "is the hub's own address (vpn.hubAddress)";
  }
  return undefined;
}

/** Whether the SA has an installed CHILD_SA. */
export function childInstalled(sa: ViciMessage): boolean {
  const children = sa["child-sas"];
  return isSection(children) &&
    Object.values(children).some((c) => isSection(c) && c.state === "INSTALLED");
}

/** Vici's failure, as the CNI error a person can act on. */
function tunnelError(err: unknown, conf: NetConf): CniError {
  return err instanceof CniError ? err : classifyFailure((err as Error).message, [], conf.vpn);
}

/**
 * Gives the pod's daemon the PSK and the connection to the hub. Nothing
 * goes on the wire yet: this may run while the pod's interface is set up.
 */
export async function loadTunnel(
  client: ViciClient,
  conf: NetConf,
  identity: string,
  psk: Secret,
): Promise<void> {
  try {
    assertSuccess(
      "load-shared",
      await client.request("load-shared", { id: "hub-psk", type: "IKE", data: psk.reveal() }),
    );
    assertSuccess("load-conn", await client.request("load-conn", podConnection(conf, identity)));
  } catch (err) {
    throw tunnelError(err, conf);
  }
}

/**
 * The messages charon logged from the pod's last `initiate` on, without
 * time and thread (pure): what vici's control-log events would have
 * streamed. Lines as charonConf's filelog writes them: "%F %T" time, then
 * "NN[GRP] message".
 */
export function initiateMessages(log: string): string[] {
  const messages = log.split("\n").map((line) => /^\S+ \S+ \d+\[\w+\] (.*)$/.exec(line)?.[1])
    .filter((m) => m !== undefined);
  const start = messages.findLastIndex((m) => m.startsWith("vici initiate "));
  return messages.slice(start + 1);
}

async function initiateLog(daemonLog: string): Promise<string[]> {
  try {
    return initiateMessages(await Deno.readTextFile(daemonLog));
  } catch {
    return [];
  }
}

/**
 * Brings the loaded connection up (IKE_SA and CHILD_SA, synchronously) and
 * returns the virtual IP the hub assigned, checked against the network's
 * virtual subnet. The SA, with its virtual IP, comes in the ike-updown
 * event: charon raises it when the IKE_SA is established, before the
 * CHILD_SA whose arrival ends the command, so vici sends it before the
 * answer (child-updown may come after it). No control-log events: charon
 * sent ~20 per ADD and the plugin decoded each, and no list-sas after:
 * ~2 ms of CPU per ADD (measured). Its log file has the same lines; a
 * failure reads them there (daemonLog).
 */
export async function initiateTunnel(
  client: ViciClient,
  conf: NetConf,
  daemonLog: string,
): Promise<string> {
  const timeoutMs = conf.vpn.timeout * 1000;
  let sa: ViciMessage | undefined;
  let errmsg: string | undefined;
  try {
    const response = await client.request(
      "initiate",
      { child: CONNECTION, ike: CONNECTION, timeout: String(timeoutMs), "init-limits": "no" },
      ["ike-updown"],
      (_name, msg) => {
        if (msg.up === "yes" && isSection(msg[CONNECTION])) sa = msg[CONNECTION];
      },
      timeoutMs + VICI_GRACE_MS,
    );
    if (response.success !== "yes") errmsg = String(response.errmsg ?? "");
  } catch (err) {
    if (err instanceof CniError) throw err;
    errmsg = (err as Error).message;
  }
  if (errmsg !== undefined) throw classifyFailure(errmsg, await initiateLog(daemonLog), conf.vpn);
  const vip = sa && Array.isArray(sa["local-vips"]) ? sa["local-vips"][0] : undefined;
  if (!vip) {
    throw new CniError(
      Code.TunnelRejected,
      `hub ${conf.vpn.serverIP} established the tunnel but assigned no virtual IP`,
    );
  }
  const problem = virtualIpProblem(vip, conf.vpn);
  if (problem) {
    throw new CniError(
      Code.TunnelRejected,
      `hub ${conf.vpn.serverIP} assigned virtual IP ${
        JSON.stringify(vip.slice(0, 64))
      }, which ${problem}: the hub's pool must lie inside vpn.virtualSubnet and leave out vpn.hubAddress`,
    );
  }
  return vip;
}

/** Ends the IKE_SA so the hub frees the virtual IP at once; best-effort, bounded. */
export async function terminateTunnel(viciSocket: string): Promise<void> {
  let client: ViciClient | undefined;
  try {
    client = await ViciClient.connect(viciSocket);
    await client.request(
      "terminate",
      { ike: CONNECTION, timeout: String(TERMINATE_TIMEOUT_MS) },
      [],
      () => {},
      TERMINATE_TIMEOUT_MS + VICI_GRACE_MS,
    );
  } catch {
    // No daemon, no SA, or a hub that does not answer: the daemon is ended next anyway.
  } finally {
    client?.close();
  }
}
