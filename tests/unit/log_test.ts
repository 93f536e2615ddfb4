import assert from "node:assert/strict";
import {
  configureLog,
  log,
  type LogTarget,
  MAX_LOG_BYTES,
  newLogTarget,
  useLogTargets,
} from "../../mod/log.ts";

Deno.test("log: lines at the level and above go to the file, with a time; a full file is moved aside", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/cni.log`;
    await Deno.writeTextFile(file, "x".repeat(MAX_LOG_BYTES + 1));
    configureLog(file, "info");
    log.info("ADD ok 80ms container=c1");
    log.debug("not at info");
    const lines = (await Deno.readTextFile(file)).trim().split("\n");
    assert.equal(lines.length, 1, "the full file was moved aside first");
    assert.match(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z info ADD ok 80ms container=c1$/);
    assert.equal((await Deno.stat(`${file}.1`)).size, MAX_LOG_BYTES + 1);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    configureLog("", "debug");
    log.info("nowhere");
    assert.equal((await Deno.readTextFile(file)).trim().split("\n").length, 1);
  } finally {
    configureLog("", "info");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("log: with per-command targets (the node agent's), each command's lines go to its own file", async () => {
  const dir = await Deno.makeTempDir();
  let current: LogTarget | undefined;
  try {
    const [a, b] = [newLogTarget(), newLogTarget()];
    useLogTargets(() => current);
    current = a;
    configureLog(`${dir}/a.log`, "info");
    current = b;
    configureLog(`${dir}/b.log`, "debug");
    log.debug("b's step");
    current = a;
    log.info("a's summary");
    log.debug("a is at info");
    current = undefined;
    log.info("no command: the process's own target, no file");
    const aLog = await Deno.readTextFile(`${dir}/a.log`);
    assert.match(aLog, /info a's summary\n$/);
    assert.doesNotMatch(aLog, /b's|a is at info|no command/);
    assert.match(await Deno.readTextFile(`${dir}/b.log`), /debug b's step\n$/);
  } finally {
    useLogTargets(() => undefined);
    await Deno.remove(dir, { recursive: true });
  }
});
