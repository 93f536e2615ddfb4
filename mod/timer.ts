/**
 * Timers for deadlines and polling. Deno's global setTimeout loads Node's
 * timers on first use: ~4 ms of CPU, a tenth of what a CNI command costs.
 * The plugin's process ends with Deno.exit, so it uses AbortSignal.timeout
 * instead, which is cheap but cannot be cancelled (a cancelled one still
 * fires, unheard, and holds the event loop until then). Every other process
 * (the CLI, tests, the lab) keeps real, cancellable timers.
 */

let cheap = false;

/** For a process that ends with Deno.exit: timers need not be cancellable. */
export function useUncancellableTimers(): void {
  cheap = true;
}

/** Calls fn after ms, unless the returned function is called first. */
export function after(ms: number, fn: () => void): () => void {
  if (!cheap) {
    const id = setTimeout(fn, ms);
    return () => clearTimeout(id);
  }
  let live = true;
  AbortSignal.timeout(ms).addEventListener("abort", () => live && fn(), { once: true });
  return () => live = false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => after(ms, resolve));
}
