/** The plugin's CNI commands, as the skel dispatches them. */

import type { Handlers } from "../cni/skel.ts";
import { cmdAdd } from "./add.ts";
import { cmdCheck } from "./check.ts";
import { cmdDel } from "./del.ts";
import { cmdGc } from "./gc.ts";
import { cmdStatus } from "./status.ts";

export const handlers: Handlers = {
  add: cmdAdd,
  del: cmdDel,
  check: cmdCheck,
  status: cmdStatus,
  gc: cmdGc,
};
