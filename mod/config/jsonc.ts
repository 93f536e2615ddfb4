/** JSONC (JSON with comments and trailing commas) to a value, with positions in errors. */

import type { ParseError } from "jsonc-parser";
import { CniError, Code } from "../cni/errors.ts";

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return { line, column };
}

/**
 * Parses JSONC; a syntax error is CNI code 6 naming the line and column.
 * Runtimes hand plugins plain JSON (libcni rejects comments), so JSON.parse
 * goes first; jsonc-parser, slow to load (~40 ms), only when that fails.
 */
export async function parseJsonc(text: string, source = "network configuration"): Promise<unknown> {
  if (text.trim() === "") {
    throw new CniError(Code.DecodeFailed, `${source} is empty`);
  }
  try {
    return JSON.parse(text);
  } catch {
    // Comments, trailing commas, or an error to locate: the full parser.
  }
  const { parse, printParseErrorCode } = await import("jsonc-parser");
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const { line, column } = lineAndColumn(text, errors[0].offset);
    const what = text[errors[0].offset] === "#"
      ? "a '#' comment (only // and /* */ comments are allowed)"
      : printParseErrorCode(errors[0].error);
    throw new CniError(
      Code.DecodeFailed,
      `${source} is not valid JSON: ${what} at line ${line}, column ${column}`,
    );
  }
  return value;
}
