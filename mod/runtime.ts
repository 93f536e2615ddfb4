/**
 * How the plugin runs, wherever it starts: the Deno flags baked into the
 * compiled executable (scripts/build.ts), and the launcher that runs it
 * under `deno run` instead (what `install` writes from a checkout, and the
 * tests' launcher).
 */

// Not node:path: a static import of it would load Node's path modules at every start.
import { parentDir } from "./fs.ts";
import { shellLine } from "./exec.ts";

export const RUNTIME_FLAGS = [
  // Deno grants reads of /proc/PID (how the plugin knows its daemons) to nothing narrower.
  "--allow-all",
  // An ADD allocates a few MB: V8's default young generation took two
  // scavenges. From 16 MB: none, ~2.8 ms less CPU and wall per ADD
  // (measured; 8 MB saved under 1 ms), and the peak RSS stays ~46 MB.
  "--v8-flags=--min-semi-space-size=16",
];

/**
 * Deno's cache for a bundle run under `deno run`: the plugin's alone, beside
 * the bundle (whoever can change one can change the other, and no one
 * else). Every start reads V8's code cache from it. A shared one (root's
 * ~/.cache/deno) holds whatever else root ran under Deno: there its SQLite
 * write-ahead log had grown to 13.6 MB, which each start read whole (26.2
 * against 21.7 ms of CPU per call, measured). The bundle needs nothing else
 * from a cache; a .ts entry does (its npm packages), so it keeps the caller's.
 */
export function bundleCacheDir(bundle: string): string {
  return `${parentDir(bundle)}/deno-cache`;
}

/** The shell lines that run main (a bundle, or main.ts with its deno.json) with this Deno. */
export function denoRunLines(main: string): string {
  const bundle = !main.endsWith(".ts");
  const config = bundle ? ["--no-config"] : ["--config", `${parentDir(main)}/deno.json`];
  const argv = [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-prompt",
    ...RUNTIME_FLAGS,
    ...config,
    main,
  ];
  return (bundle ? `export DENO_DIR=${shellLine([bundleCacheDir(main)])}\n` : "") +
    `exec ${shellLine(argv)} "$@"\n`;
}
