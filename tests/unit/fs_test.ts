import assert from "node:assert/strict";
import { writeFileAtomic } from "../../mod/fs.ts";

Deno.test("fs: atomic write replaces a symlink instead of writing through it, with the mode asked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/victim`, "keep me");
    await Deno.symlink(`${dir}/victim`, `${dir}/out.conf`);
    assert.equal(await writeFileAtomic(`${dir}/out.conf`, "secret", 0o600), "replaced");
    assert.equal(
      await Deno.readTextFile(`${dir}/victim`),
      "keep me",
      "the link's target is untouched",
    );
    const info = await Deno.lstat(`${dir}/out.conf`);
    assert.ok(info.isFile && !info.isSymlink);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.equal(await writeFileAtomic(`${dir}/out.conf`, "secret", 0o600), "unchanged");
    assert.equal(await writeFileAtomic(`${dir}/out.conf`, "secret", 0o644), "replaced");
    assert.equal((await Deno.lstat(`${dir}/out.conf`)).mode! & 0o777, 0o644);
    assert.equal(await writeFileAtomic(`${dir}/new`, "x", 0o755), "created");
    assert.equal((await Deno.lstat(`${dir}/new`)).mode! & 0o777, 0o755);
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left.sort(), ["new", "out.conf", "victim"], "no temp file is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
