/**
 * `deno task build`: what ships is built from what is tested.
 *
 * 1. `deno bundle` makes dist/strongswan.js, the entry (main.ts: a call's
 *    way to the node agent, a few KB), and beside it
 *    dist/strongswan-commands.js (mod/commands.ts: every command run in the
 *    plugin's own process, with zod/mini and jsonc-parser inside), each one
 *    minified, tree-shaken file. The entry imports the other only when it
 *    runs a command itself. The tests, the demo and the benchmarks exec the
 *    entry (or the executable, when there is one).
 * 2. `deno compile` makes dist/strongswan from the two, the one file that
 *    goes to /opt/cni/bin. It needs Deno's runtime "denort", which it
 *    downloads from Deno's server, or DENORT_BIN=/path/to/denort. Where it
 *    cannot be had, this says so in one sentence, removes any stale
 *    executable, and leaves the tested bundle as the result.
 *
 * --bundle-only stops after step 1. The executable gets the plugin's
 * RUNTIME_FLAGS (mod/runtime.ts) baked in.
 */

import { bundleCacheDir, RUNTIME_FLAGS } from "../mod/runtime.ts";

export const BUNDLE = "dist/strongswan.js";
/** main.ts imports it from beside itself by this name. */
const COMMANDS_BUNDLE = "dist/strongswan-commands.js";
export const EXECUTABLE = "dist/strongswan";

const bundleOnly = Deno.args.includes("--bundle-only");

function fail(sentence: string): never {
  console.error(`build: ${sentence}`);
  Deno.exit(1);
}

async function deno(args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(stderr);
  return stderr;
}

/** Why a DENORT_BIN cannot be deno's runtime, if it cannot. */
async function denortProblem(path: string): Promise<string | undefined> {
  let head: Uint8Array;
  try {
    const file = await Deno.open(path);
    head = new Uint8Array(4);
    await file.read(head);
    file.close();
  } catch {
    return `DENORT_BIN=${path} does not exist or cannot be read`;
  }
  if (!(head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46)) {
    return `DENORT_BIN=${path} is not an executable (ELF) file; it must be the unzipped "denort" binary from denort-x86_64-unknown-linux-gnu.zip of Deno ${Deno.version.deno}`;
  }
  return undefined;
}

/** The file's bytes, if it exists. */
async function contents(path: string): Promise<Uint8Array | undefined> {
  return await Deno.readFile(path).catch(() => undefined);
}

/** Bundles entry into output; whether output changed. */
async function bundle(entry: string, output: string): Promise<boolean> {
  const previous = await contents(output);
  try {
    await deno(["bundle", "--quiet", "--minify", "--platform", "deno", "-o", output, entry]);
  } catch (err) {
    fail(`deno bundle of ${entry} failed:\n${(err as Error).message}`);
  }
  const built = (await contents(output))!;
  console.log(`built ${output} (${(built.length / 1024).toFixed(0)} KB)`);
  return previous?.length !== built.length || previous.some((b, i) => b !== built[i]);
}

await Deno.mkdir("dist", { recursive: true });
const changed = [await bundle("main.ts", BUNDLE), await bundle("mod/commands.ts", COMMANDS_BUNDLE)];
if (changed.includes(true)) {
  // V8's code cache there keeps an entry for every bundle ever built, in a write-ahead log
  // that every start reads whole: 4 MB of it cost ~0.9 ms of CPU per call (measured).
  await Deno.remove(bundleCacheDir(BUNDLE), { recursive: true }).catch(() => {});
}
if (bundleOnly) Deno.exit(0);

const denort = Deno.env.get("DENORT_BIN");
if (denort) {
  const problem = await denortProblem(denort);
  if (problem) fail(problem);
}
try {
  await deno(
    [
      "compile",
      "--quiet",
      ...RUNTIME_FLAGS,
      "--no-config",
      // Imported by a name computed at run time: compile cannot see it by itself.
      "--include",
      COMMANDS_BUNDLE,
      "--output",
      EXECUTABLE,
      BUNDLE,
    ],
    denort ? { DENORT_BIN: denort } : {},
  );
} catch (err) {
  const stderr = (err as Error).message;
  if (!/denort|Setting up base binary|dl\.deno\.land|download/i.test(stderr)) {
    fail(`deno compile failed:\n${stderr}`);
  }
  // An executable from older sources must not be mistaken for this build.
  await Deno.remove(EXECUTABLE).catch(() => {});
  console.error(
    `build: no executable: deno compile needs Deno's runtime "denort" (the unzipped binary of denort-x86_64-unknown-linux-gnu.zip, Deno ${Deno.version.deno}), which it could not download; give it as DENORT_BIN=/path/to/denort. ${BUNDLE} is built and is what the tests run.`,
  );
  Deno.exit(0);
}
console.log(`built ${EXECUTABLE}`);
