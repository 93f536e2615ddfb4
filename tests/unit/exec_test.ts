/**
 * The exec deadline ends the command and what it started (all of an
 * untrusted one's group); output is bounded. Real processes.
 */

import assert from "node:assert/strict";
import { ExecError, inNetns, ipInNetns, programPath, run, startCoprocess } from "../../mod/exec.ts";
import { procStat } from "../../mod/proc.ts";

/** Whether a pid is gone (or a zombie waiting for its reaper). */
function gone(pid: number): boolean {
  const stat = procStat(pid);
  return !stat || stat.state === "Z";
}

async function rejects(p: Promise<unknown>): Promise<ExecError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ExecError, String(err));
    return err;
  }
  assert.fail("expected an ExecError");
}

Deno.test("exec: a trusted command's child is ended with it at the deadline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The shell waits for its child, which ignores SIGTERM: both must go.
    const err = await rejects(
      run(["sh", "-c", `sh -c "trap '' TERM; exec sleep 30" & echo $! > ${dir}/pid; wait`], {
        timeoutMs: 300,
      }),
    );
    assert.match(err.message, /timed out after 300 ms/);
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    for (let i = 0; i < 100 && !gone(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(gone(pid), "the child was killed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exec: an untrusted command's background child does not outlive the deadline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const started = performance.now();
    // The shell exits at once; its child keeps stdout open for 30 s.
    const err = await rejects(run(["sh", "-c", `sleep 30 & echo $! > ${dir}/pid; echo hi`], {
      timeoutMs: 500,
      untrusted: true,
    }));
    const took = performance.now() - started;
    assert.match(err.message, /timed out after 500 ms/);
    assert.ok(took < 5000, `took ${took} ms`);
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    for (let i = 0; i < 100 && !gone(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(gone(pid), "the background sleep was killed with its group");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const untrusted of [true, false]) {
  Deno.test(`exec: a command ignoring SIGTERM gets SIGKILL (untrusted: ${untrusted})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const started = performance.now();
      // exec: the sleep is the command itself, and ignores SIGTERM as the shell did.
      const err = await rejects(
        run(["sh", "-c", `trap '' TERM; echo $$ > ${dir}/pid; exec sleep 30`], {
          timeoutMs: 300,
          untrusted,
        }),
      );
      assert.match(err.message, /timed out/);
      assert.ok(performance.now() - started < 5000);
      assert.ok(await gone(Number(await Deno.readTextFile(`${dir}/pid`))), "killed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("exec: a process that left the group cannot hold us past the deadline", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const started = performance.now();
    // setsid puts the sleep in a new session: the group kill misses it, its pipe is abandoned.
    await rejects(run(["sh", "-c", `setsid sh -c 'echo $$ > ${dir}/pid; exec sleep 30' & wait`], {
      timeoutMs: 300,
      untrusted: true,
    }));
    assert.ok(performance.now() - started < 5000);
    const pid = Number(await Deno.readTextFile(`${dir}/pid`));
    Deno.kill(pid, "SIGKILL"); // ours, by its pid
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exec: output beyond the limit is an error, not a memory hog", async () => {
  const err = await rejects(run(["yes"], { outputLimit: 10_000, timeoutMs: 5000 }));
  assert.match(err.message, /printed more than 10000 bytes/);
});

Deno.test("exec: success, exit codes and stderr are reported", async () => {
  assert.deepEqual(await run(["sh", "-c", "echo out; echo err >&2"]), {
    stdout: "out\n",
    stderr: "err\n",
  });
  const err = await rejects(run(["sh", "-c", "echo bad >&2; exit 3"]));
  assert.equal(err.exitCode, 3);
  assert.match(err.message, /exited with code 3: bad/);
  assert.match((await rejects(run(["/no/such/program"]))).message, /cannot start/);
});

Deno.test("exec: a command that prints a lot before reading its stdin does not deadlock", async () => {
  // 256 KiB of output first (four pipe buffers), then it reads its input.
  const { stdout } = await run(
    ["sh", "-c", "head -c 262144 /dev/zero; cat > /dev/null; echo done"],
    {
      stdin: "x".repeat(200_000),
      timeoutMs: 5000,
    },
  );
  assert.ok(stdout.endsWith("done\n"));
});

Deno.test("exec: stdin given as a promise is written once it resolves; a rejected one writes nothing", async () => {
  let give!: (s: string) => void;
  const later = new Promise<string>((r) => give = r);
  const running = run(["cat"], { stdin: later });
  // Meanwhile cat runs, its stdin open.
  await new Promise((r) => setTimeout(r, 50));
  give("the virtual IP");
  assert.equal((await running).stdout, "the virtual IP");
  const refused = Promise.reject(new Error("IKE failed"));
  assert.equal((await run(["cat"], { stdin: refused })).stdout, "");
  // A command that cannot start leaves no rejection unhandled (it would end a call run alone).
  let refuse!: (err: Error) => void;
  const never = new Promise<string>((_, r) => refuse = r);
  await rejects(run(["/nonexistent/program"], { stdin: never }));
  refuse(new Error("IKE failed"));
  await new Promise((r) => setTimeout(r, 10));
});

Deno.test("exec: stdin in parts, written in turn, while stderr is watched as it comes", async () => {
  const next = Promise.withResolvers<string>();
  const seen: string[] = [];
  const script = 'read a; echo "got $a" >&2; read b; echo "$a $b"';
  const running = run(["sh", "-c", script], {
    stdin: ["first\n", next.promise],
    onStderr: (text) => {
      seen.push(text);
      // The command said how far it got before the second part exists.
      if (text.includes("got first")) next.resolve("second\n");
    },
  });
  const { stdout, stderr } = await running;
  assert.equal(stdout, "first second\n");
  assert.equal(stderr, "got first\n");
  assert.deepEqual(seen, ["got first\n"]);
  // A part that rejects ends the input there: cat gets the first part only.
  const refused = Promise.reject(new Error("IKE failed"));
  assert.equal((await run(["cat"], { stdin: ["one\n", refused, "two\n"] })).stdout, "one\n");
});

Deno.test("exec: what busybox's applets run goes by full path (busybox's own ip is not iproute2's)", () => {
  const argv = inNetns("/run/netns/x", ["sh", "-c", "true"]);
  assert.deepEqual(argv.slice(0, 5), ["busybox", "nsenter", "--net=/run/netns/x", "-F", "--"]);
  assert.match(argv[5], /^\/.+\/sh$/);
  assert.deepEqual(argv.slice(6), ["-c", "true"]);
  // busybox too: found once, not searched for on PATH at every exec.
  assert.deepEqual(inNetns("/n", ["busybox", "unshare"]).slice(5), [
    programPath("busybox"),
    "unshare",
  ]);
  assert.match(programPath("busybox"), /^\/.+\/busybox$/);
  assert.throws(
    () => inNetns("/n", ["no-such-program-here"]),
    /no-such-program-here is not on PATH/,
  );
});

Deno.test("exec: ip enters a named namespace itself; any other path goes through nsenter", () => {
  assert.deepEqual(ipInNetns("/run/netns/cni-1", ["-j", "rule", "show"]), [
    "ip",
    "-n",
    "cni-1",
    "-j",
    "rule",
    "show",
  ]);
  assert.deepEqual(ipInNetns("/var/run/netns/cni-1", ["link"]), ["ip", "-n", "cni-1", "link"]);
  for (const path of ["/proc/42/ns/net", "/run/netns/a/b", "/run/netns/..", "/srv/run/netns/x"]) {
    assert.deepEqual(ipInNetns(path, ["link"]).slice(0, 3), [
      "busybox",
      "nsenter",
      `--net=${path}`,
    ]);
  }
});

Deno.test("exec: a coprocess takes input in pieces, its output is watched; closing ends it, even one that ignores EOF", async () => {
  let out = "";
  const seen = Promise.withResolvers<void>();
  const cat = startCoprocess(["cat"], (text) => {
    out += text;
    if (out.endsWith("two\n")) seen.resolve();
  }, () => {});
  await cat.write(new TextEncoder().encode("one\n"));
  await cat.write(new TextEncoder().encode("two\n"));
  await seen.promise;
  assert.equal(out, "one\ntwo\n", "each piece arrives while it runs");
  await cat.close();
  assert.equal((await cat.ended).code, 0);
  await assert.rejects(cat.write(new TextEncoder().encode("three\n")), "no input once it ended");

  // sleep does not read its stdin: closing it kills it after the grace.
  const sleeper = startCoprocess(["sleep", "30"], () => {}, () => {});
  const started = performance.now();
  await sleeper.close();
  assert.ok(performance.now() - started < 5000);
  assert.equal((await sleeper.ended).signal, "SIGKILL");
});
