/**
 * The comment-free network config for /etc/cni/net.d (libcni rejects
 * comments; podman reads only .conflist). Without a cniVersion in the source
 * a conflist says `"cniVersion": "1.0.0"` for libcni before 1.2 (containerd
 * 1.6/1.7, podman 4: they refuse 1.1.0) and `"cniVersions": ["1.0.0",
 * "1.1.0"]` for libcni 1.2+, which picks 1.1.0 from it (STATUS, GC). An
 * explicit version is kept, with a warning naming what it switches off or
 * which runtimes refuse it.
 */

import {
  compareVersions,
  INTRODUCED_IN,
  LATEST_VERSION,
  OLD_LIBCNI_VERSION,
} from "../cni/version.ts";
import type { NetConf } from "../config/load.ts";

export interface Rendered {
  doc: Record<string, unknown>;
  /** Said on stderr; the document is still written. */
  warnings: string[];
  /** Whether the document holds the PSK (then it must be 0600). */
  holdsPsk: boolean;
}

/** The commands a cniVersion switches off (pure). */
export function disabledCommands(version: string): string[] {
  return Object.entries(INTRODUCED_IN)
    .filter(([, since]) => compareVersions(version, since) < 0)
    .map(([command]) => command);
}

/** What a rendered file's versions mean, in the words install prints. */
export function describeVersions(doc: Record<string, unknown>): string {
  const list = Array.isArray(doc.cniVersions) ? ` (libcni 1.2+: ${doc.cniVersions.at(-1)})` : "";
  return `cniVersion ${doc.cniVersion}${list}`;
}

/** Warnings about an explicit cniVersion (pure). */
export function versionWarnings(explicit: string): string[] {
  const off = disabledCommands(explicit);
  const warnings: string[] = [];
  if (off.length > 0) {
    warnings.push(
      `cniVersion ${explicit} switches off ${off.join(", ")} (runtimes never call ${
        off.length > 1 ? "them" : "it"
      }); remove cniVersion to render ${OLD_LIBCNI_VERSION} with cniVersions up to ${LATEST_VERSION}`,
    );
  }
  if (compareVersions(explicit, OLD_LIBCNI_VERSION) > 0) {
    warnings.push(
      `cniVersion ${explicit} is refused by libcni before 1.2 (containerd 1.6 and 1.7, podman 4: "unsupported CNI result version"); remove cniVersion to render ${OLD_LIBCNI_VERSION} with cniVersions up to ${explicit}, which newer runtimes read`,
    );
  }
  return warnings;
}

export function renderConfig(conf: NetConf, conflist: boolean): Rendered {
  const explicit = typeof conf.raw.cniVersion === "string" ? conf.raw.cniVersion : undefined;
  const warnings = explicit ? versionWarnings(explicit) : [];
  // A single-plugin file has no cniVersions: libcni reads that list only in conflists.
  const versions = explicit
    ? { cniVersion: explicit }
    : conflist
    ? { cniVersion: OLD_LIBCNI_VERSION, cniVersions: [OLD_LIBCNI_VERSION, LATEST_VERSION] }
    : { cniVersion: OLD_LIBCNI_VERSION };
  const { cniVersion: _, name, ...plugin } = conf.raw;
  const doc = conflist ? { ...versions, name, plugins: [plugin] } : { ...versions, ...conf.raw };
  return { doc, warnings, holdsPsk: conf.vpn.psk !== undefined };
}

/** The file's text: plain JSON, two-space indented, a final newline. */
export function renderedText(rendered: Rendered): string {
  return `${JSON.stringify(rendered.doc, null, 2)}\n`;
}

/** 0600 when the file holds the PSK: only root may read it. */
export function renderedMode(rendered: Rendered): number {
  return rendered.holdsPsk ? 0o600 : 0o644;
}
