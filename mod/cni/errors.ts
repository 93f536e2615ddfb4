/**
 * The one error type of the plugin. Every failure becomes a CniError with a
 * spec code (0-99) or one of the plugin's own (100+, listed in the README);
 * it is turned into the spec's JSON only at the boundary (mod/cni/skel.ts).
 */

export const Code = {
  // Well-known codes from the CNI spec.
  IncompatibleVersion: 1,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailed: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  // The plugin's own codes.
  IpamFailed: 100,
  LinkFailed: 101,
  FirewallFailed: 102,
  DaemonFailed: 103,
  TunnelRejected: 104,
  CheckFailed: 105,
  AgentFailed: 106,
} as const;

export type CodeValue = typeof Code[keyof typeof Code];

export class CniError extends Error {
  constructor(readonly code: CodeValue, msg: string, readonly details = "") {
    super(msg);
    this.name = "CniError";
  }
}

/** Wraps anything thrown into a CniError, keeping one that already is. */
export function asCniError(err: unknown, code: CodeValue, msg: string): CniError {
  if (err instanceof CniError) return err;
  const details = err instanceof Error ? err.message : String(err);
  return new CniError(code, msg, details);
}
