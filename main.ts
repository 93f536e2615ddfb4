/**
 * strongswan: a CNI plugin that puts a pod on the node's bridge and makes it
 * an IKEv2 client of a strongSwan hub. This file only dispatches: CNI mode
 * when CNI_COMMAND is set, the operator CLI otherwise.
 */

const encoder = new TextEncoder();

/** A network config with prevResult, or GC's attachment list, is far smaller. */
const STDIN_LIMIT = 4 << 20;
/** Runtimes write the config at once and close stdin. */
const STDIN_TIMEOUT_MS = 10_000;

/** The whole of stdin, or an error message when it is too big or never ends. */
async function readStdin(): Promise<string | { error: string }> {
  const reader = Deno.stdin.readable.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((r) =>
    timer = setTimeout(() => r("timeout"), STDIN_TIMEOUT_MS)
  );
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === "timeout") {
        return { error: `stdin was not closed within ${STDIN_TIMEOUT_MS / 1000} s` };
      }
      if (next.done) break;
      size += next.value.length;
      if (size > STDIN_LIMIT) {
        return { error: `the network configuration exceeds ${STDIN_LIMIT} bytes` };
      }
      chunks.push(next.value);
    }
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  chunks.reduce((off, c) => (bytes.set(c, off), off + c.length), 0);
  return new TextDecoder().decode(bytes);
}

async function writeAll(stream: typeof Deno.stdout, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await stream.write(bytes.subarray(off));
}

async function cniMode(): Promise<number> {
  const { dispatch } = await import("./mod/cni/skel.ts");
  const { handlers } = await import("./mod/plugin/handlers.ts");
  const outcome = await dispatch((name) => Deno.env.get(name), await readStdin(), handlers);
  if (outcome.stdout) await writeAll(Deno.stdout, `${outcome.stdout}\n`);
  return outcome.exitCode;
}

async function cliMode(): Promise<number> {
  const { runCli } = await import("./mod/cli/main.ts");
  const outcome = await runCli(Deno.args);
  if (outcome.stdout) await writeAll(Deno.stdout, outcome.stdout);
  if (outcome.stderr) await writeAll(Deno.stderr, outcome.stderr);
  return outcome.exitCode;
}

if (import.meta.main) {
  Deno.exit(Deno.env.get("CNI_COMMAND") ? await cniMode() : await cliMode());
}
