/** Undoing an attachment, shared by DEL, GC and ADD's rollback. */

import { type DaemonId, daemonId, daemonPaths, isOurDaemon, stopDaemon } from "../ipsec/daemon.ts";
import { terminateTunnel } from "../ipsec/tunnel.ts";
import { removeStateDir } from "../state.ts";

/**
 * The daemon of a state directory whose state file was never written (ADD
 * killed right after the spawn): charon's own pid file, trusted only if that
 * process runs with this directory's settings.
 */
async function daemonFromPidFile(dir: string): Promise<DaemonId | undefined> {
  const paths = daemonPaths(dir);
  try {
    const pid = Number((await Deno.readTextFile(`${paths.runDir}/charon.pid`)).trim());
    const environ = await Deno.readTextFile(`/proc/${pid}/environ`);
    if (!environ.split("\0").includes(`STRONGSWAN_CONF=${paths.confFile}`)) return undefined;
    return await daemonId(pid);
  } catch {
    return undefined;
  }
}

/** Ends the IKE_SA (the hub frees the virtual IP), stops the daemon, removes its directory. */
export async function teardownDaemon(dir: string, id?: DaemonId): Promise<void> {
  const daemon = id && await isOurDaemon(id) ? id : await daemonFromPidFile(dir);
  if (daemon) {
    await terminateTunnel(daemonPaths(dir).viciSocket);
    await stopDaemon(daemon);
  }
  await removeStateDir(dir);
}
