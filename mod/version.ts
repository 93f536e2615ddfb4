/** The plugin's own version, from deno.json (embedded in the compiled binary). */

import meta from "../deno.json" with { type: "json" };
import { SUPPORTED_VERSIONS } from "./cni/version.ts";

export const PLUGIN_VERSION: string = meta.version;

/** What the plugin is, as the reference plugins print it. */
export function about(): string {
  return `CNI strongswan plugin v${PLUGIN_VERSION}\nCNI protocol versions supported: ${
    SUPPORTED_VERSIONS.join(", ")
  }`;
}
