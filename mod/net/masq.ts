/**
 * IP masquerade for a pod's traffic leaving its bridge subnet: one nat chain
 * per attachment, jumped to from POSTROUTING, each rule tagged with the
 * network and container so that DEL removes exactly these. Changes go through
 * one iptables-restore batch (one exec, atomic).
 */

import { CniError, Code } from "../cni/errors.ts";
import { run, tryRun } from "../exec.ts";
import { addressOf, canonicalCidr, parseCidr } from "./cidr.ts";

const MULTICAST = "224.0.0.0/4";
/** A node with kube-proxy in iptables mode can have a nat table of many megabytes. */
const NAT_TABLE_LIMIT = 64 << 20;

export function ruleComment(network: string, containerId: string): string {
  return `strongswan-cni: ${network} ${containerId}`.slice(0, 255);
}

function jumps(chain: string, podCidrs: string[], comment: string): string[] {
  return podCidrs.map((cidr) =>
    `POSTROUTING -s ${addressOf(cidr)}/32 -m comment --comment "${comment}" -j ${chain}`
  );
}

/** The iptables-restore batch that installs the chain and a jump for each of the pod's addresses. */
export function planMasqAdd(chain: string, podCidrs: string[], comment: string): string {
  const subnets = [...new Set(podCidrs.map((c) => canonicalCidr(parseCidr(c)!)))];
  const c = `-m comment --comment "${comment}"`;
  return [
    "*nat",
    `:${chain} - [0:0]`,
    ...subnets.map((subnet) => `-A ${chain} -d ${subnet} ${c} -j ACCEPT`),
    `-A ${chain} ! -d ${MULTICAST} ${c} -j MASQUERADE`,
    ...jumps(chain, podCidrs, comment).map((j) => `-A ${j}`),
    "COMMIT",
    "",
  ].join("\n");
}

/** The batch that removes what planMasqAdd installed, when ADD's record says what that was. */
export function planMasqDelKnown(chain: string, podCidrs: string[], comment: string): string {
  return [
    "*nat",
    ...jumps(chain, podCidrs, comment).map((j) => `-D ${j}`),
    `-F ${chain}`,
    `-X ${chain}`,
    "COMMIT",
    "",
  ].join("\n");
}

/**
 * From `iptables-save -t nat`, the batch that removes every jump to the chain
 * and the chain itself; undefined when nothing of it is left.
 */
export function planMasqDel(saved: string, chain: string): string | undefined {
  const lines = saved.split("\n");
  const jumps = lines.filter((l) => l.startsWith("-A ") && l.endsWith(` -j ${chain}`));
  const chainExists = lines.some((l) => l.startsWith(`:${chain} `));
  if (jumps.length === 0 && !chainExists) return undefined;
  return [
    "*nat",
    ...jumps.map((l) => `-D ${l.slice(3)}`),
    ...(chainExists ? [`-F ${chain}`, `-X ${chain}`] : []),
    "COMMIT",
    "",
  ].join("\n");
}

export async function addMasquerade(
  chain: string,
  podCidrs: string[],
  comment: string,
): Promise<void> {
  try {
    await run(["iptables-restore", "--wait", "--noflush"], {
      stdin: planMasqAdd(chain, podCidrs, comment),
    });
  } catch (err) {
    throw new CniError(
      Code.FirewallFailed,
      `cannot add masquerade rules for ${podCidrs.join(", ")}`,
      (err as Error).message,
    );
  }
}

/**
 * Removes the chain and its jumps. With what ADD recorded, one atomic
 * iptables-restore of exactly those rules; if that fails (ADD was
 * interrupted, or the rules are gone), they are found in the nat table.
 */
export async function removeMasquerade(
  chain: string,
  known?: { podCidrs: string[]; comment: string },
): Promise<void> {
  if (known && known.podCidrs.length > 0) {
    const batch = planMasqDelKnown(chain, known.podCidrs, known.comment);
    if (await tryRun(["iptables-restore", "--wait", "--noflush"], { stdin: batch })) return;
  }
  try {
    const { stdout } = await run(["iptables-save", "-t", "nat"], { outputLimit: NAT_TABLE_LIMIT });
    const batch = planMasqDel(stdout, chain);
    if (batch) await run(["iptables-restore", "--wait", "--noflush"], { stdin: batch });
  } catch (err) {
    throw new CniError(
      Code.FirewallFailed,
      `cannot remove masquerade chain ${chain}`,
      (err as Error).message,
    );
  }
}
