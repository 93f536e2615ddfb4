/** What every operator command shares: reading the config, checking options, the outcome. */

import { type NetConf, parseNetConf } from "../config/load.ts";
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

export async function loadFile(file: string | undefined): Promise<NetConf> {
  if (!file) throw new UsageError("a config FILE is required");
  return parseNetConf(await readConfigText(file));
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

/** argv as a person would type it into a POSIX shell. */
export function shellLine(argv: string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_./:=@,+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}
