/**
 * Timers: cancellable ones everywhere but the plugin's process, which uses
 * cheap ones. Both kinds fire once and stay silent when cancelled. The mode
 * is per process, so this file runs the default first.
 */

import assert from "node:assert/strict";
import { after, sleep, useUncancellableTimers } from "../../mod/timer.ts";

async function firesUnlessCancelled(): Promise<void> {
  const fired: string[] = [];
  after(5, () => fired.push("kept"));
  const cancel = after(5, () => fired.push("cancelled"));
  cancel();
  await sleep(30);
  assert.deepEqual(fired, ["kept"]);
}

Deno.test("timer: setTimeout-backed by default", firesUnlessCancelled);

Deno.test("timer: AbortSignal-backed for the plugin", async () => {
  useUncancellableTimers();
  await firesUnlessCancelled();
});
