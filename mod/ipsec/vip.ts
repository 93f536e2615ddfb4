/** The pod's virtual IP on the pod's interface. */

import { CniError, Code } from "../cni/errors.ts";
import { DEFAULT_TIMEOUT_MS, inNetns, run } from "../exec.ts";
import { batchLine } from "../net/ipbatch.ts";

/**
 * kernel-libipsec puts the virtual IP on its TUN device; it belongs on the
 * pod's interface. It stays on ipsec0 as well: taking it off flushes the
 * tunnel's routes (they use it as source) until charon reinstalls them ~80 ms
 * later, and in that window the pod's traffic would take the default route.
 */
export async function addVirtualIp(
  netns: string,
  ifname: string,
  vip: Promise<string>,
  waitMs: number,
): Promise<void> {
  let address = "";
  try {
    // ip starts now and reads the line once IKE has given the address: its
    // exec is off the ADD's critical path. No address, no line: ip just ends.
    await run(inNetns(netns, ["ip", "-batch", "-"]), {
      stdin: vip.then((assigned) => {
        address = assigned;
        return batchLine("addr", "add", `${assigned}/32`, "dev", ifname);
      }),
      timeoutMs: waitMs + DEFAULT_TIMEOUT_MS,
    });
  } catch (err) {
    throw new CniError(
      Code.LinkFailed,
      `cannot put virtual IP ${address} on ${ifname}`,
      (err as Error).message,
    );
  }
}
