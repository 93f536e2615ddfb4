/**
 * Every name ADD gives to something it makes, derived from the attachment
 * (container ID and interface), so DEL and GC find exactly what ADD made.
 */

/**
 * Not under /run: each daemon gets a private /run, which would hide its own
 * files there.
 */
export const STATE_ROOT = "/var/lib/cni/strongswan";

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
  /** The IKE identity: unique to the attachment, never a pid. */
  ikeIdentity: string;
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

export function stateDirName(containerId: string, ifname: string): string {
  return `${containerId}.${ifname}`;
}

export async function attachmentNames(
  containerId: string,
  ifname: string,
  stateRoot = STATE_ROOT,
): Promise<AttachmentNames> {
  const h = await digestHex(`${containerId}\0${ifname}`);
  return {
    hostVeth: `veth${h.slice(0, 11)}`,
    hostMac: macFrom(h.slice(11)),
    podMac: macFrom(h.slice(21)),
    chain: `SWAN-${h.slice(0, 20).toUpperCase()}`,
    stateDir: `${stateRoot}/${stateDirName(containerId, ifname)}`,
    ikeIdentity: `${containerId}.${ifname}`,
  };
}
