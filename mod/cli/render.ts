/**
 * The comment-free network config for /etc/cni/net.d (libcni rejects
 * comments; podman reads only .conflist). Every command the plugin
 * implements is enabled: without a cniVersion in the source it is rendered
 * as the newest one (1.1.0: CHECK, STATUS, GC); an explicit older one is
 * kept, with a warning naming what it switches off.
 */

import { compareVersions, LATEST_VERSION } from "../cni/version.ts";
import type { NetConf } from "../config/load.ts";

/** Commands the spec added after 0.1.0, with the version that added them. */
export const INTRODUCED_IN: Record<string, string> = {
  CHECK: "0.4.0",
  STATUS: "1.1.0",
  GC: "1.1.0",
};

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

export function renderConfig(conf: NetConf, conflist: boolean): Rendered {
  const explicit = typeof conf.raw.cniVersion === "string" ? conf.raw.cniVersion : undefined;
  const cniVersion = explicit ?? LATEST_VERSION;
  const warnings: string[] = [];
  const off = disabledCommands(cniVersion);
  if (explicit && off.length > 0) {
    warnings.push(
      `cniVersion ${explicit} switches off ${off.join(", ")} (runtimes never call ${
        off.length > 1 ? "them" : "it"
      }); remove cniVersion to render ${LATEST_VERSION}`,
    );
  }
  const { cniVersion: _, name, ...plugin } = conf.raw;
  const doc = conflist ? { cniVersion, name, plugins: [plugin] } : { cniVersion, ...conf.raw };
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
