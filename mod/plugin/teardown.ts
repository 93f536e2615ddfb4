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
 * Ends the IKE_SA (the hub frees the virtual IP), stops the daemon, removes
 * its directory. The daemon is the recorded one if that pid still is it; a
 * record without a pid (ADD killed right after the spawn) is resolved by
 * findDaemon. A recorded pid that is no longer ours (a reboot, a reused pid)
 * is never signalled.
 */
export async function teardownDaemon(dir: string, id?: DaemonId): Promise<void> {
  const paths = daemonPaths(dir);
  const daemon = id ? (await isOurDaemon(id) ? id : undefined) : await findDaemon(paths);
  if (daemon) {
    await terminateTunnel(paths.viciSocket);
    await stopDaemon(daemon);
  }
  await removeStateDir(dir);
}
