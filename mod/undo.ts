/** What ADD has done so far, undone in reverse on any failure. */

import { log } from "./log.ts";

export class UndoStack {
  readonly #steps: { label: string; fn: () => Promise<unknown> }[] = [];

  /** Registers an undo step; push it before the step it undoes runs, so a half-done step is undone too. */
  push(label: string, fn: () => Promise<unknown>): void {
    this.#steps.push({ label, fn });
  }

  /** Runs every step, newest first; a failing step is logged and the rest still run. */
  async unwind(): Promise<void> {
    while (this.#steps.length > 0) {
      const { label, fn } = this.#steps.pop()!;
      try {
        await fn();
      } catch (err) {
        log.warn(`rollback: ${label} failed: ${(err as Error).message}`);
      }
    }
  }
}
