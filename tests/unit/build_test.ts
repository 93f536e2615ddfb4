import assert from "node:assert/strict";

const BUILD = new URL("../../scripts/build.ts", import.meta.url).pathname;
const REPO = new URL("../..", import.meta.url).pathname;

Deno.test("build: a DENORT_BIN that is not the runtime is one sentence naming what it wants, no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/denort`, "not a binary");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", BUILD],
      cwd: REPO,
      env: { DENORT_BIN: `${dir}/denort` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1);
    assert.match(
      stderr,
      /^build: DENORT_BIN=.* is not an executable \(ELF\) file; it must be the unzipped "denort" binary/m,
    );
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
    assert.doesNotMatch(stderr, /Not an ELF file|backtrace|at /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
