/**
 * Every name ADD gives to something it makes, derived from the attachment
 * (container ID and interface), so DEL and GC find exactly what ADD made.
 * All are derived from one hash of both, so none is ambiguous.
 */

import type { PodRef } from "../cni/env.ts";

/**
 * Not under /run: each daemon gets a private /run, which would hide its own
 * files there.
 */
export const STATE_ROOT = "/var/lib/cni/strongswan";

/** Hex digits of the attachment hash that name its state directory (64 bits). */
const STATE_DIR_HEX = 16;
/** The IKE identity also becomes the lease server's DHCP client id: keep it well under 255 bytes. */
const MAX_IDENTITY = 128;

export interface AttachmentNames {
  /** Host end of the veth pair: "veth" + 11 hex digits, within IFNAMSIZ. */
  hostVeth: string;
  /** Locally administered, stable MACs for both ends of the pair. */
  hostMac: string;
  podMac: string;
  /** iptables nat chain holding this attachment's masquerade rules (at most 28 chars). */
  chain: string;
  /** Root-only directory for the attachment's state and its strongSwan daemon. */
  stateDir: string;
}

async function digestHex(text: string): Promise<string> {
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function macFrom(hex: string): string {
  // 0x02: locally administered, unicast.
  return ["02", ...hex.slice(0, 10).match(/../g)!].join(":");
}

/**
 * A bridge takes the lowest MAC of its ports unless given one, so every pod
 * added or removed could change the gateway's MAC under the other pods
 * (their IKE packets then go to a stale address). A fixed one stops that.
 */
export async function bridgeMac(bridge: string): Promise<string> {
  return macFrom(await digestHex(`bridge\0${bridge}`));
}

/** What DEL and GC remove on the node, all from the hash's first 64 bits (the state directory's name). */
export type NodeNames = Pick<AttachmentNames, "hostVeth" | "chain" | "stateDir">;

function nodeNames(h: string, stateRoot: string): NodeNames {
  return {
    hostVeth: `veth${h.slice(0, 11)}`,
    chain: `SWAN-${h.slice(0, STATE_DIR_HEX).toUpperCase()}`,
    stateDir: `${stateRoot}/${h.slice(0, STATE_DIR_HEX)}`,
  };
}

/** Every name of the attachment; "\0" cannot occur in either part, so the hash input is unambiguous. */
export async function attachmentNames(
  containerId: string,
  ifname: string,
  stateRoot = STATE_ROOT,
): Promise<AttachmentNames> {
  const h = await digestHex(`${containerId}\0${ifname}`);
  return {
    ...nodeNames(h, stateRoot),
    hostMac: macFrom(h.slice(16)),
    podMac: macFrom(h.slice(26)),
  };
}

/** The node-side names of a state directory found on disk (GC of one that lost its state file). */
export function namesOfStateDir(dir: string): NodeNames | undefined {
  const hash = dir.split("/").pop() ?? "";
  if (!new RegExp(`^[0-9a-f]{${STATE_DIR_HEX}}$`).test(hash)) return undefined;
  return nodeNames(hash, dir.slice(0, dir.length - hash.length - 1));
}

/**
 * The pod's IKE identity: `[namespace/pod/]ifname@containerID`. Neither an
 * interface name nor a container ID can hold '@' or '/', so it is injective
 * in (container ID, interface) whatever the Kubernetes part says; that part
 * is only for people reading the hub, and is cut short before the rest is.
 */
export function ikeIdentity(containerId: string, ifname: string, pod?: PodRef): string {
  const unique = `${ifname}@${containerId}`;
  if (!pod) return unique;
  const room = MAX_IDENTITY - unique.length - 1;
  const label = `${pod.namespace}/${pod.name}`.slice(0, Math.max(0, room));
  return label ? `${label}/${unique}` : unique;
}
