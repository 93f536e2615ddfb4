/** Undoing an attachment's daemon, shared by DEL, GC and ADD's rollback. */

import {
  type DaemonId,
  daemonPaths,
  findDaemon,
  isOurDaemon,
  stopDaemon,
} from "../ipsec/daemon.ts";
import { terminateTunnel } from "../ipsec/tunnel.ts";
import { removeStateDir } from "../state.ts";

/**
 * Ends the IKE_SA (the hub frees the virtual IP), runs meanwhile, then stops
 * the daemon and removes its directory. The daemon is the recorded one if
 * that pid still is it; a record without a pid (ADD records it only once
 * done: it failed or was killed) is resolved by findDaemon. A recorded pid that is no longer ours (a
 * reboot, a reused pid) is never signalled.
 *
 * Stopped the moment its IKE_SA has ended, charon can spend a second of its
 * shutdown waiting for the netlink event of its virtual IP's removal
 * (kernel-netlink's del_ip; seen in about one DEL of twenty through the node
 * agent). The work in meanwhile gives it the time to get the event.
 */
export async function teardownDaemon(
  dir: string,
  id?: DaemonId,
  meanwhile: () => Promise<unknown> = () => Promise.resolve(),
): Promise<void> {
  const paths = daemonPaths(dir);
  const daemon = id ? (isOurDaemon(id) ? id : undefined) : findDaemon(paths);
  if (daemon) await terminateTunnel(paths.viciSocket);
  try {
    await meanwhile();
  } finally {
    if (daemon) await stopDaemon(daemon);
    removeStateDir(dir);
  }
}
