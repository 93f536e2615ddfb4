/** The pod's virtual IP on the pod's interface. */

import { batchLine } from "../net/ipbatch.ts";

/**
 * The `ip -batch` line that puts the virtual IP on the pod's interface.
 * kernel-libipsec puts it on its TUN device; it belongs on the pod's
 * interface. It stays on ipsec0 as well: taking it off flushes the tunnel's
 * routes (they use it as source) until charon reinstalls them ~80 ms later,
 * and in that window the pod's traffic would take the default route.
 */
export function virtualIpLine(ifname: string, vip: string): string {
  return batchLine("addr", "add", `${vip}/32`, "dev", ifname);
}
