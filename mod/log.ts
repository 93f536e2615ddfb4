/**
 * Logs never go to stdout (it carries only CNI JSON). Warnings and errors go
 * to stderr; with the config's logFile (default below), lines at logLevel
 * and above go there too: one line per command with its container, pod,
 * outcome and time, and the steps at debug. The file is bounded: past
 * MAX_LOG_BYTES it is moved to FILE.1 (the one older file kept).
 * STRONGSWAN_CNI_LOG=debug in the environment also sends debug to stderr.
 * Callers pass no secrets: the PSK is a Secret and prints as <redacted>.
 */

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export const MAX_LOG_BYTES = 4 << 20;

const encoder = new TextEncoder();
const rank = (level: LogLevel) => LOG_LEVELS.indexOf(level);

const stderrLevel: LogLevel = Deno.env.get("STRONGSWAN_CNI_LOG") === "debug" ? "debug" : "warn";
/** Where one command's lines go: its config's logFile and logLevel. */
export interface LogTarget {
  file?: string;
  level: LogLevel;
  rotationChecked: boolean;
}

export function newLogTarget(): LogTarget {
  return { level: "info", rotationChecked: false };
}

const processTarget = newLogTarget();
/** The node agent runs many commands at once, each with a target of its own. */
let currentTarget = (): LogTarget => processTarget;

/** Makes lines go to the target source() returns (the node agent's per-command one). */
export function useLogTargets(source: () => LogTarget | undefined): void {
  currentTarget = () => source() ?? processTarget;
}

/** Where lines go from now on (the config's logFile and logLevel; "" for no file). */
export function configureLog(path: string, level: LogLevel): void {
  const target = currentTarget();
  target.file = path === "" ? undefined : path;
  target.level = level;
  target.rotationChecked = false;
}

/** Moves a full log aside once per command, before its first line. */
function rotateIfFull(target: LogTarget, path: string): void {
  target.rotationChecked = true;
  try {
    if (Deno.statSync(path).size > MAX_LOG_BYTES) Deno.renameSync(path, `${path}.1`);
  } catch {
    // No file yet.
  }
}

function write(level: LogLevel, msg: string): void {
  if (rank(level) <= rank(stderrLevel)) {
    Deno.stderr.writeSync(encoder.encode(`strongswan-cni ${level}: ${msg}\n`));
  }
  const target = currentTarget();
  if (target.file && rank(level) <= rank(target.level)) {
    try {
      if (!target.rotationChecked) rotateIfFull(target, target.file);
      Deno.writeFileSync(
        target.file,
        encoder.encode(`${new Date().toISOString()} ${level} ${msg}\n`),
        { append: true, create: true, mode: 0o600 },
      );
    } catch {
      // A log that cannot be written must not fail the command.
    }
  }
}

export const log = {
  debug: (msg: string) => write("debug", msg),
  info: (msg: string) => write("info", msg),
  warn: (msg: string) => write("warn", msg),
  error: (msg: string) => write("error", msg),
};
