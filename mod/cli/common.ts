/** What every operator command shares: reading the config, checking options, the outcome. */

import { CniError } from "../cni/errors.ts";
import type { Path } from "../config/issues.ts";
import { lineAndColumn, parseJsonc } from "../config/jsonc.ts";
import { type NetConf, validateNetConf } from "../config/load.ts";
import { pathProblem } from "../ipsec/config.ts";
import { parseIPv4 } from "../net/cidr.ts";

export interface CliOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Bad command-line use: exit 2 with the usage. */
export class UsageError extends Error {}

/** Something the command will not do, in one sentence: exit 1, nothing changed. */
export class RefusedError extends Error {}

export type Options = Record<string, string | boolean | undefined>;

export async function readConfigText(file: string): Promise<string> {
  if (file === "-") return await new Response(Deno.stdin.readable).text();
  return await Deno.readTextFile(file);
}

/** Where each path of the document is in its text ("line L, column C"), for messages. */
async function locator(text: string): Promise<(path: Path) => string | undefined> {
  const { findNodeAtLocation, parseTree } = await import("jsonc-parser");
  const tree = parseTree(text, [], { allowTrailingComma: true });
  return (path) => {
    // A missing field is shown where the object that lacks it starts.
    for (let n = path.length; n >= 0 && tree; n--) {
      const node = findNodeAtLocation(tree, path.slice(0, n));
      if (!node) continue;
      const at = node.parent?.type === "property" ? node.parent.offset : node.offset;
      const { line, column } = lineAndColumn(text, at);
      return `line ${line}, column ${column}`;
    }
    return undefined;
  };
}

/** A config file, parsed and validated; every problem names the file, and where in it. */
export async function loadFile(file: string | undefined): Promise<NetConf> {
  if (!file) throw new UsageError("a config FILE is required");
  const source = file === "-" ? "stdin" : file;
  const text = await readConfigText(file);
  try {
    return validateNetConf(
      await parseJsonc(text, "the network configuration"),
      await locator(text),
    );
  } catch (err) {
    if (err instanceof CniError) {
      throw new CniError(err.code, `${source}: ${err.message}`, err.details);
    }
    throw err;
  }
}

/** A path option, checked before anything is written (it goes into a config file). */
export function pathOption(
  values: Options,
  name: string,
  fallback: string,
  socket = false,
): string {
  const value = (values[name] as string | undefined) ?? fallback;
  const problem = pathProblem(value, socket);
  if (problem) throw new UsageError(`--${name} ${JSON.stringify(value)} ${problem}`);
  return value;
}

/** An IPv4 address option, printed back from its parsed value. */
export function addressOption(values: Options, name: string): string | undefined {
  const value = values[name] as string | undefined;
  if (value === undefined) return undefined;
  if (parseIPv4(value) === undefined) {
    throw new UsageError(`--${name} ${JSON.stringify(value)} must be an IPv4 address`);
  }
  return value;
}
