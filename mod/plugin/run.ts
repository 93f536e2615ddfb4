/**
 * One CNI command, run here: the boundary (mod/cni/skel.ts) with the
 * plugin's handlers, and its one summary line in the log. The plugin's
 * process runs one; the node agent runs many at once.
 */

import { dispatch, type Handlers, type Stdin } from "../cni/skel.ts";
import type { NetConf } from "../config/load.ts";
import { configureLog, log } from "../log.ts";
import { handlers } from "./handlers.ts";

export interface Ran {
  stdout: string;
  exitCode: number;
}

export async function runCommand(
  getEnv: (name: string) => string | undefined,
  stdin: Stdin,
  use: Handlers = handlers,
): Promise<Ran> {
  const started = performance.now();
  const outcome = await dispatch(
    getEnv,
    stdin,
    use,
    (conf: NetConf) => configureLog(conf.logFile, conf.logLevel),
  );
  const { command, error, network, containerId, ifname, pod, virtualIp } = outcome.summary;
  const fields = [
    ["network", network],
    ["container", containerId],
    ["if", ifname],
    ["pod", pod],
    ["vip", virtualIp],
  ].filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(" ");
  const took = `${(performance.now() - started).toFixed(0)}ms`;
  if (command !== "VERSION") {
    if (error) {
      log.error(
        `${command} failed ${took} code=${error.code} ${JSON.stringify(error.msg)} ${fields}`,
      );
    } else log.info(`${command} ok ${took} ${fields}`);
  }
  return { stdout: outcome.stdout, exitCode: outcome.exitCode };
}
