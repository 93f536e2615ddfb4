/**
 * strongswan: a CNI plugin that puts a pod on the node's bridge and makes it
 * an IKEv2 client of a strongSwan hub. This file only dispatches: CNI mode
 * when CNI_COMMAND is set, the operator CLI otherwise.
 */

const encoder = new TextEncoder();

async function writeAll(stream: typeof Deno.stdout, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await stream.write(bytes.subarray(off));
}

async function cniMode(): Promise<number> {
  const { dispatch } = await import("./mod/cni/skel.ts");
  const { handlers } = await import("./mod/plugin/handlers.ts");
  const stdin = await new Response(Deno.stdin.readable).text();
  const outcome = await dispatch((name) => Deno.env.get(name), stdin, handlers);
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
