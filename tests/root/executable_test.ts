/**
 * The compiled executable, when `deno task build` could make one (the whole
 * suite then runs against it): it must work on a host with no Deno and no
 * Node. Both are hidden here by bind-mounting /dev/null over them in a
 * private mount namespace. Where no executable can be made, this says why.
 */

import assert from "node:assert/strict";
import { builtExecutable } from "../../lab/plugin.ts";
import { assertNothingLeft, assertOk, labTest } from "./support.ts";

const executable = builtExecutable();
if (!executable) {
  console.error(
    "executable test skipped: deno task build made no dist/strongswan here (deno compile cannot get Deno's runtime denort on this machine); the suite ran against dist/strongswan.js",
  );
}

/** Every deno and node binary on this host's PATH, resolved. */
function runtimes(): string[] {
  const found = new Set<string>();
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["deno", "node", "nodejs"]) {
      try {
        found.add(Deno.realPathSync(`${dir}/${name}`));
      } catch {
        // Not here.
      }
    }
  }
  return [...found];
}

if (executable) {
  labTest(
    "executable: ADD and DEL work with no Deno and no Node on the host",
    { nodes: 1 },
    async (lab) => {
      const pod = await lab.pod(1, "exe");
      // The plugin the runtime execs: in its own mount namespace every deno and node is
      // /dev/null, then the executable runs with the runtime's argv.
      const hide = runtimes().map((path) => `mount --bind /dev/null ${path}`).join(" && ");
      await Deno.writeTextFile(
        `${lab.cniPath[0]}/strongswan`,
        `#!/bin/sh\nexec unshare --mount --propagation private -- /bin/sh -c '${hide} && exec ${executable} "$@"' sh "$@"\n`,
        { mode: 0o755 },
      );
      assertOk(await lab.add(pod));
      assert.ok(await lab.ping(pod.netnsName, "10.9.0.2"));
      assertOk(await lab.del(pod));
      await assertNothingLeft(lab, pod);
    },
  );
}
