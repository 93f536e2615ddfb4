/** The pod's virtual IP on the pod's interface. */

import { CniError, Code } from "../cni/errors.ts";
import { inNetns, run } from "../exec.ts";

/**
 * kernel-libipsec puts the virtual IP on its TUN device; it belongs on the
 * pod's interface. It stays on ipsec0 as well: taking it off flushes the
 * tunnel's routes (they use it as source) until charon reinstalls them ~80 ms
 * later, and in that window the pod's traffic would take the default route.
 */
export async function addVirtualIp(netns: string, ifname: string, vip: string): Promise<void> {
  try {
    await run(inNetns(netns, ["ip", "addr", "add", `${vip}/32`, "dev", ifname]));
  } catch (err) {
    throw new CniError(
      Code.LinkFailed,
      `cannot put virtual IP ${vip} on ${ifname}`,
      (err as Error).message,
    );
  }
}
