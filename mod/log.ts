/**
 * Logs go to stderr, never stdout (stdout carries only CNI JSON). Quiet unless
 * STRONGSWAN_CNI_LOG=debug. Callers pass no secrets: the PSK is a Secret and
 * prints as <redacted> if it ever slips in.
 */

const verbose = Deno.env.get("STRONGSWAN_CNI_LOG") === "debug";

const encoder = new TextEncoder();

function write(level: string, msg: string): void {
  Deno.stderr.writeSync(encoder.encode(`strongswan-cni ${level}: ${msg}\n`));
}

export const log = {
  debug(msg: string): void {
    if (verbose) write("debug", msg);
  },
  warn(msg: string): void {
    write("warn", msg);
  },
};
