/** CNI spec versions this plugin speaks, and how results differ between them. */

export const SUPPORTED_VERSIONS = [
  "0.1.0",
  "0.2.0",
  "0.3.0",
  "0.3.1",
  "0.4.0",
  "1.0.0",
  "1.1.0",
] as const;

export const LATEST_VERSION = "1.1.0";

/** Commands the spec added after 0.1.0, with the version that added them. */
export const INTRODUCED_IN: Record<string, string> = {
  CHECK: "0.4.0",
  STATUS: "1.1.0",
  GC: "1.1.0",
};

/**
 * The newest version libcni before 1.2 reads: containerd 1.6 and 1.7 and
 * podman 4 refuse a network whose cniVersion is newer ("unsupported CNI
 * result version"). libcni 1.2+ also reads a conflist's `cniVersions` and
 * picks the newest it supports.
 */
export const OLD_LIBCNI_VERSION = "1.0.0";

/** What the reference plugins assume when a config names no cniVersion. */
export const VERSION_WHEN_ABSENT = "0.1.0";

export function isSupported(version: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

/** The three result encodings the spec has had. */
export type ResultFamily = "0.2" | "0.4" | "1.x";

export function resultFamily(version: string): ResultFamily {
  if (version.startsWith("0.1.") || version.startsWith("0.2.")) return "0.2";
  if (version.startsWith("0.3.") || version.startsWith("0.4.")) return "0.4";
  return "1.x";
}

/** Compares two dotted versions numerically; negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
