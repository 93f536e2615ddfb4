import assert from "node:assert/strict";
import { CniError } from "../../mod/cni/errors.ts";

/** Asserts fn throws a CniError with the given code, and returns it. */
export function assertThrowsCni(fn: () => unknown, code: number): CniError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, `expected a CniError, got ${err}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a CniError with code ${code}`);
}

export async function assertRejectsCni(
  fn: () => Promise<unknown>,
  code: number,
): Promise<CniError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof CniError, `expected a CniError, got ${err}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return err;
  }
  assert.fail(`expected a CniError with code ${code}`);
}

/** The seed README's example, as printed there (comments, no cniVersion). */
export const SEED_CONFIG = await Deno.readTextFile(
  new URL("../../conf/10-strongswan.jsonc", import.meta.url),
);

export function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { vpn, ...rest } = overrides;
  return {
    cniVersion: "1.0.0",
    name: "net",
    type: "strongswan",
    ipam: { type: "host-local", subnet: "172.17.0.0/16" },
    ...rest,
    vpn: {
      serverIP: "10.9.0.2",
      virtualSubnet: "10.173.0.0/16",
      hostSubnet: "10.9.0.0/24",
      PSK: "s3cret-psk",
      ...(vpn as object),
    },
  };
}
