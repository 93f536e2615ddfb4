/**
 * `install` puts the plugin on a node: the running executable (or, under
 * `deno run`, a launcher for this checkout) as <bin-dir>/strongswan, and the
 * network's comment-free .conflist in <conf-dir>, both written atomically.
 * Everything is checked before anything is written. `uninstall` removes
 * what install writes, unless attachments still run.
 */

import { loadFile, type Options, pathOption, RefusedError, UsageError } from "./common.ts";
import { describeVersions, renderConfig, renderedMode, renderedText } from "./render.ts";
import { parentDir, writeFileAtomic, type WriteOutcome } from "../fs.ts";
import { isOurDaemon } from "../ipsec/daemon.ts";
import { listStateDirs } from "../state.ts";
import type { CliOutcome } from "./common.ts";
import { denoRunLines } from "../runtime.ts";
import { servingAgent } from "../agent/client.ts";
import { AGENT_UNIT, agentUnit, DEFAULT_UNIT_DIR } from "./agent_unit.ts";

export const DEFAULT_BIN_DIR = "/opt/cni/bin";
export const DEFAULT_CONF_DIR = "/etc/cni/net.d";
/** The name runtimes exec: a network's `type`. */
export const PLUGIN_FILE = "strongswan";

/** The .conflist install writes for a network (libcni loads them in name order). */
export function conflistName(network: string): string {
  return `10-${network}.conflist`;
}

/**
 * What goes to <bin-dir>/strongswan: this executable, or (under `deno run`)
 * a launcher for the program running now, with this Deno.
 */
async function programBytes(): Promise<{ bytes: Uint8Array | string; what: string }> {
  if (Deno.build.standalone) {
    return { bytes: await Deno.readFile(Deno.execPath()), what: "this executable" };
  }
  const main = decodeURIComponent(new URL(Deno.mainModule).pathname);
  return {
    bytes:
      `#!/bin/sh\n# The strongswan CNI plugin, run from a checkout (strongswan install under deno run).\n` +
      denoRunLines(main),
    what: `a launcher for ${main}`,
  };
}

/** Throws a one-sentence refusal unless dir is (or can be made) a directory this user can write. */
async function checkWritableDir(option: string, dir: string): Promise<void> {
  let existing = dir;
  for (;;) {
    try {
      const info = await Deno.stat(existing);
      if (!info.isDirectory) {
        throw new RefusedError(
          existing === dir
            ? `${option} ${dir} is not a directory`
            : `${option} ${dir} cannot be made: ${existing} is not a directory`,
        );
      }
      break;
    } catch (err) {
      if (err instanceof RefusedError) throw err;
      const missing = err instanceof Deno.errors.NotFound ||
        err instanceof Deno.errors.NotADirectory;
      if (!missing || existing === "/") throw err;
      existing = parentDir(existing);
    }
  }
  const probe = `${existing}/.strongswan-install-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeFile(probe, new Uint8Array(), { createNew: true, mode: 0o600 });
    await Deno.remove(probe);
  } catch (err) {
    throw new RefusedError(`${option} ${dir} is not writable here: ${(err as Error).message}`);
  }
}

function said(path: string, outcome: WriteOutcome, note = ""): string {
  return `${path}: ${outcome === "unchanged" ? "already up to date" : outcome}${note}`;
}

export async function install(values: Options): Promise<CliOutcome> {
  const config = values.config as string | undefined;
  if (!config) throw new UsageError("install needs --config FILE");
  const binDir = pathOption(values, "bin-dir", DEFAULT_BIN_DIR);
  const confDir = pathOption(values, "conf-dir", DEFAULT_CONF_DIR);
  const unitDir = pathOption(values, "unit-dir", DEFAULT_UNIT_DIR);
  const conf = await loadFile(config);
  const rendered = renderConfig(conf, true);
  await checkWritableDir("--bin-dir", binDir);
  await checkWritableDir("--conf-dir", confDir);
  const bin = `${binDir}/${PLUGIN_FILE}`;
  const unit = values.agent ? agentUnit(bin) : undefined;
  if (unit) await checkWritableDir("--unit-dir", unitDir);

  const program = await programBytes();
  await Deno.mkdir(binDir, { recursive: true, mode: 0o755 });
  await Deno.mkdir(confDir, { recursive: true, mode: 0o755 });
  const binOutcome = await writeFileAtomic(bin, program.bytes, 0o755);
  const conflist = `${confDir}/${conflistName(conf.name)}`;
  const mode = renderedMode(rendered);
  const confOutcome = await writeFileAtomic(conflist, renderedText(rendered), mode);
  const unitPath = `${unitDir}/${AGENT_UNIT}`;
  let unitOutcome: WriteOutcome | undefined;
  if (unit) {
    await Deno.mkdir(unitDir, { recursive: true, mode: 0o755 });
    unitOutcome = await writeFileAtomic(unitPath, unit, 0o644);
  }
  const agent = binOutcome === "unchanged" ? undefined : await servingAgent();
  return {
    stdout: [
      said(bin, binOutcome, binOutcome === "unchanged" ? "" : ` (${program.what})`),
      said(
        conflist,
        confOutcome,
        ` (network "${conf.name}", ${describeVersions(rendered.doc)}, mode ${mode.toString(8)}${
          rendered.holdsPsk ? ": it holds the PSK" : ""
        })`,
      ),
      ...(unitOutcome
        ? [
          said(
            unitPath,
            unitOutcome,
            ` (the node agent: systemctl daemon-reload && systemctl enable --now ${AGENT_UNIT})`,
          ),
        ]
        : []),
      ...(agent ? [`the node agent at ${agent} runs the program it started with: restart it`] : []),
    ].join("\n") + "\n",
    stderr: rendered.warnings.map((w) => `warning: ${w}\n`).join(""),
    exitCode: 0,
  };
}

/** The .conflist files in dir whose plugins include this one (what install wrote there). */
async function ourConflists(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".conflist")) continue;
      const path = `${dir}/${entry.name}`;
      try {
        const doc = JSON.parse(await Deno.readTextFile(path));
        const plugins = Array.isArray(doc?.plugins) ? doc.plugins : [];
        if (plugins.some((p: { type?: unknown }) => p?.type === PLUGIN_FILE)) found.push(path);
      } catch {
        // Not a config of ours.
      }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return found.sort();
}

export async function uninstall(values: Options): Promise<CliOutcome> {
  const binDir = pathOption(values, "bin-dir", DEFAULT_BIN_DIR);
  const confDir = pathOption(values, "conf-dir", DEFAULT_CONF_DIR);
  const live: string[] = [];
  for (const { state } of listStateDirs()) {
    if (state?.daemon && isOurDaemon(state.daemon)) {
      live.push(`${state.containerId}/${state.ifname} (network ${state.network})`);
    }
  }
  if (live.length > 0 && !values.force) {
    throw new RefusedError(
      `${live.length} attachment(s) still run on this node: ${
        live.join(", ")
      }; delete their pods first, or use --force (they keep running, but no runtime can DEL them)`,
    );
  }
  const unitDir = pathOption(values, "unit-dir", DEFAULT_UNIT_DIR);
  const removed: string[] = [];
  const ours = [
    `${binDir}/${PLUGIN_FILE}`,
    ...(await ourConflists(confDir)),
    `${unitDir}/${AGENT_UNIT}`,
  ];
  for (const path of ours) {
    try {
      await Deno.remove(path);
      removed.push(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return {
    stdout: removed.length ? removed.map((p) => `removed ${p}\n`).join("") : "nothing to remove\n",
    stderr: live.length ? `warning: left running: ${live.join(", ")}\n` : "",
    exitCode: 0,
  };
}
