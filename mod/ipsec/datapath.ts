/** Which ESP datapath to use: the kernel's XFRM, or strongSwan's userspace libipsec. */

import type { Datapath } from "../config/schema.ts";
import { inNetns, tryRun } from "../exec.ts";
import type { ResolvedDatapath } from "./config.ts";

/** Per boot, so under /run. */
const CACHE_DIR = "/run/cni";
const CACHE_FILE = `${CACHE_DIR}/strongswan-datapath`;

// A throwaway SA with the ESP algorithm the tunnel uses (TEST-NET addresses).
const PROBE_SA = ["src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x00000001"];
const PROBE_KEY = "0x" + "00".repeat(36);

/** Runs argv in the pod's netns, or (for the hub) in a throwaway one, so the probe touches nothing else. */
function isolated(netns: string | undefined, argv: string[]): string[] {
  return netns ? inNetns(netns, argv) : ["unshare", "--net", "--", ...argv];
}

/**
 * auto: probes once per boot (the answer is cached under /run) whether the
 * kernel can do ESP with AES-GCM.
 */
export async function resolveDatapath(
  wanted: Datapath,
  netns?: string,
): Promise<ResolvedDatapath> {
  if (wanted !== "auto") return wanted;
  try {
    const cached = Deno.readTextFileSync(CACHE_FILE).trim();
    if (cached === "kernel" || cached === "userspace") return cached;
  } catch {
    // Not probed yet.
  }
  const ok = await tryRun(
    isolated(netns, [
      "ip",
      "xfrm",
      "state",
      "add",
      ...PROBE_SA,
      "mode",
      "tunnel",
      "aead",
      "rfc4106(gcm(aes))",
      PROBE_KEY,
      "128",
    ]),
  );
  if (ok) await tryRun(isolated(netns, ["ip", "xfrm", "state", "delete", ...PROBE_SA]));
  const found: ResolvedDatapath = ok ? "kernel" : "userspace";
  await Deno.mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  // The node agent may probe for two commands at once.
  const tmp = `${CACHE_FILE}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, found);
  await Deno.rename(tmp, CACHE_FILE);
  return found;
}
