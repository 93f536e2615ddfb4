/** Bringing a pod's tunnel up and down over its daemon's vici socket. */

import { CniError, Code } from "../cni/errors.ts";
import type { NetConf } from "../config/load.ts";
import type { Secret } from "../config/secret.ts";
import { broadcastOf, contains, formatIPv4, networkOf, parseCidr, parseIPv4 } from "../net/cidr.ts";
import { hubAddressing } from "../hub/addressing.ts";
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

/** The IKE_SA named CONNECTION as list-sas reports it, if any (one round trip, bounded). */
export async function listSa(client: ViciClient): Promise<ViciMessage | undefined> {
  let found: ViciMessage | undefined;
  await client.request("list-sas", { ike: CONNECTION }, ["list-sa"], (_name, msg) => {
    const sa = msg[CONNECTION];
    if (sa && typeof sa === "object" && !Array.isArray(sa)) found = sa;
  });
  return found;
}

/**
 * Why the hub's answer cannot be the pod's address (pure): it must be an
 * IPv4 address inside virtualSubnet, and not the subnet's network,
 * broadcast or the hub's own address.
 */
export function virtualIpProblem(vip: string, virtualSubnet: string): string | undefined {
  const addr = parseIPv4(vip);
  const subnet = parseCidr(virtualSubnet)!;
  if (addr === undefined) return "is not an IPv4 address";
  if (!contains(subnet, addr)) return `lies outside vpn.virtualSubnet ${virtualSubnet}`;
  if (subnet.prefix < 31 && (addr === networkOf(subnet) || addr === broadcastOf(subnet))) {
    return `is the network or broadcast address of ${virtualSubnet}`;
  }
  if (formatIPv4(addr) === hubAddressing(virtualSubnet).hubAddress) {
    return "is the hub's own address";
  }
  return undefined;
}

/** Whether the SA has an installed CHILD_SA. */
export function childInstalled(sa: ViciMessage): boolean {
  const children = sa["child-sas"];
  if (!children || typeof children !== "object" || Array.isArray(children)) return false;
  return Object.values(children).some((c) =>
    typeof c === "object" && !Array.isArray(c) && c.state === "INSTALLED"
  );
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
 * Brings the loaded connection up (IKE_SA and CHILD_SA, synchronously) and
 * returns the virtual IP the hub assigned, checked against the network's
 * virtual subnet.
 */
export async function initiateTunnel(client: ViciClient, conf: NetConf): Promise<string> {
  const timeoutMs = conf.vpn.timeout * 1000;
  try {
    const log: string[] = [];
    const response = await client.request(
      "initiate",
      { child: CONNECTION, ike: CONNECTION, timeout: String(timeoutMs), "init-limits": "no" },
      ["control-log"],
      (_name, msg) => {
        if (typeof msg.msg === "string") log.push(msg.msg);
      },
      timeoutMs + VICI_GRACE_MS,
    );
    if (response.success !== "yes") {
      throw classifyFailure(String(response.errmsg ?? ""), log, conf.vpn);
    }
    const sa = await listSa(client);
    const vip = sa && Array.isArray(sa["local-vips"]) ? sa["local-vips"][0] : undefined;
    if (!vip || !childInstalled(sa!)) {
      throw new CniError(
        Code.TunnelRejected,
        `hub ${conf.vpn.serverIP} established the tunnel but assigned no virtual IP`,
      );
    }
    const problem = virtualIpProblem(vip, conf.vpn.virtualSubnet);
    if (problem) {
      throw new CniError(
        Code.TunnelRejected,
        `hub ${conf.vpn.serverIP} assigned virtual IP ${
          JSON.stringify(vip.slice(0, 64))
        }, which ${problem}: is the hub's pool configured by server-config?`,
      );
    }
    return vip;
  } catch (err) {
    throw tunnelError(err, conf);
  }
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
