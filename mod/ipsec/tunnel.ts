/** Bringing a pod's tunnel up and down over its daemon's vici socket. */

import { CniError, Code } from "../cni/errors.ts";
import type { NetConf } from "../config/load.ts";
import type { Secret } from "../config/secret.ts";
import { CONNECTION, ESP_PROPOSAL, podConnection } from "./config.ts";
import { assertSuccess, ViciClient, type ViciMessage } from "./vici.ts";

/** Extra time vici gets beyond its own timeout before the plugin gives up on it. */
const VICI_GRACE_MS = 2000;

/** A CNI error that says why the tunnel did not come up (pure). */
export function classifyFailure(
  errmsg: string,
  log: string[],
  serverIP: string,
  timeoutSec: number,
): CniError {
  const all = [errmsg, ...log].join("\n");
  const details = all.trim();
  if (/AUTHENTICATION_FAILED|authentication of .* failed|MAC verification failed/i.test(all)) {
    return new CniError(
      Code.TunnelRejected,
      `hub ${serverIP} rejected the pre-shared key: vpn.PSK must match the hub's`,
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

function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`no answer from charon within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The IKE_SA named CONNECTION as list-sas reports it, if any. */
export async function listSa(client: ViciClient): Promise<ViciMessage | undefined> {
  let found: ViciMessage | undefined;
  await client.request("list-sas", { ike: CONNECTION }, ["list-sa"], (_name, msg) => {
    const sa = msg[CONNECTION];
    if (sa && typeof sa === "object" && !Array.isArray(sa)) found = sa;
  });
  return found;
}

/** Whether the SA has an installed CHILD_SA. */
export function childInstalled(sa: ViciMessage): boolean {
  const children = sa["child-sas"];
  if (!children || typeof children !== "object" || Array.isArray(children)) return false;
  return Object.values(children).some((c) =>
    typeof c === "object" && !Array.isArray(c) && c.state === "INSTALLED"
  );
}

/**
 * Loads the PSK and the connection, initiates, and waits (bounded by
 * vpn.timeout) until the CHILD_SA is installed. Returns the virtual IP.
 */
export async function bringUpTunnel(
  client: ViciClient,
  conf: NetConf,
  identity: string,
  psk: Secret,
): Promise<string> {
  const timeoutMs = conf.vpn.timeout * 1000;
  const run = async () => {
    assertSuccess(
      "load-shared",
      await client.request("load-shared", { id: "hub-psk", type: "IKE", data: psk.reveal() }),
    );
    assertSuccess("load-conn", await client.request("load-conn", podConnection(conf, identity)));
    const log: string[] = [];
    const response = await client.request(
      "initiate",
      { child: CONNECTION, ike: CONNECTION, timeout: String(timeoutMs), "init-limits": "no" },
      ["control-log"],
      (_name, msg) => {
        if (typeof msg.msg === "string") log.push(msg.msg);
      },
    );
    if (response.success !== "yes") {
      throw classifyFailure(
        String(response.errmsg ?? ""),
        log,
        conf.vpn.serverIP,
        conf.vpn.timeout,
      );
    }
    const sa = await listSa(client);
    const vip = sa && Array.isArray(sa["local-vips"]) ? sa["local-vips"][0] : undefined;
    if (!vip || !childInstalled(sa!)) {
      throw new CniError(
        Code.TunnelRejected,
        `hub ${conf.vpn.serverIP} established the tunnel but assigned no virtual IP`,
      );
    }
    return vip;
  };
  try {
    return await withDeadline(run(), timeoutMs + VICI_GRACE_MS, () => client.close());
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw classifyFailure((err as Error).message, [], conf.vpn.serverIP, conf.vpn.timeout);
  }
}

/** Ends the IKE_SA so the hub frees the virtual IP at once; best-effort. */
export async function terminateTunnel(viciSocket: string, timeoutMs = 2000): Promise<void> {
  let client: ViciClient | undefined;
  try {
    client = await ViciClient.connect(viciSocket);
    const c = client;
    await withDeadline(
      c.request("terminate", { ike: CONNECTION, timeout: String(timeoutMs) }),
      timeoutMs + VICI_GRACE_MS,
      () => c.close(),
    );
  } catch {
    // No daemon, no SA, or a hub that does not answer: the daemon is ended next anyway.
  } finally {
    client?.close();
  }
}
