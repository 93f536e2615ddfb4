/**
 * The plugin's CNI commands, as the skel dispatches them. Each command's
 * module is loaded only when that command runs: the bundle keeps them as
 * lazy initialisers, so DEL never evaluates ADD's code, and VERSION none.
 */

import type { Handlers } from "../cni/skel.ts";

export const handlers: Handlers = {
  add: async (env, conf) => (await import("./add.ts")).cmdAdd(env, conf),
  del: async (env, conf) => (await import("./del.ts")).cmdDel(env, conf),
  check: async (env, conf) => (await import("./check.ts")).cmdCheck(env, conf),
  status: async (env, conf) => (await import("./status.ts")).cmdStatus(env, conf),
  gc: async (env, conf, valid) => (await import("./gc.ts")).cmdGc(env, conf, valid),
};
