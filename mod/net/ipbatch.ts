/**
 * Lines for `ip -batch`, assembled from tokens. Every value was parsed
 * before it got here; this is the last check that none of them can be read
 * as batch syntax (a second command, a comment, a quoted word).
 */

// Control characters are exactly what this must catch.
// deno-lint-ignore no-control-regex
const UNSAFE_TOKEN = /[\s"'\\#\x00-\x1f\x7f]/;

/** Whether s could be read by `ip -batch` as more than one plain word (quotes, '#', '\\', white space, control). */
export function hasBatchSyntax(s: string): boolean {
  return UNSAFE_TOKEN.test(s);
}

/** One `ip -batch` line; throws rather than emit a token ip could misread. */
export function batchLine(...tokens: (string | number)[]): string {
  return tokens.map((t) => {
    const s = String(t);
    if (s === "" || hasBatchSyntax(s)) {
      throw new Error(`refusing to pass ${JSON.stringify(s.slice(0, 64))} to ip -batch`);
    }
    return s;
  }).join(" ");
}

export interface BatchFailure {
  /** 0-based index into the lines given. */
  line: number;
  message: string;
}

/**
 * The failed lines of an `ip -force -batch` run, from its stderr: each
 * failure's messages are followed by "Command failed -:N" (N 1-based).
 */
export function batchFailures(stderr: string): BatchFailure[] {
  const failures: BatchFailure[] = [];
  let messages: string[] = [];
  for (const text of stderr.split("\n")) {
    const m = /^Command failed -:(\d+)$/.exec(text.trim());
    if (m) {
      failures.push({ line: Number(m[1]) - 1, message: messages.join("; ") });
      messages = [];
    } else if (text.trim()) {
      messages.push(text.trim());
    }
  }
  return failures;
}
