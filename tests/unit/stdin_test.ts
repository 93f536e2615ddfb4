/** The plugin's stdin is bounded in size and in time (through main.ts, as a runtime runs it). */

import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function plugin(): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", "--config", CONFIG, MAIN],
    env: {
      CNI_COMMAND: "DEL",
      CNI_CONTAINERID: "c1",
      CNI_IFNAME: "eth0",
      CNI_PATH: "/nonexistent",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("stdin: a config over 4 MiB is an I/O error, read no further", async () => {
  const child = plugin();
  const writer = child.stdin.getWriter();
  const chunk = new Uint8Array(1 << 20).fill(0x20);
  for (let i = 0; i < 6; i++) await writer.write(chunk).catch(() => {});
  await writer.close().catch(() => {});
  const out = await child.output();
  assert.equal(out.code, 1);
  const err = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(err.code, 5);
  assert.match(err.msg, /exceeds 4194304 bytes/);
});

Deno.test("stdin: a runtime that never closes stdin gets an error, not a hung plugin", async () => {
  const child = plugin();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("{"));
  const out = await child.output();
  await writer.close().catch(() => {});
  assert.equal(out.code, 1);
  assert.match(
    JSON.parse(new TextDecoder().decode(out.stdout)).msg,
    /stdin was not closed within 10 s/,
  );
});
