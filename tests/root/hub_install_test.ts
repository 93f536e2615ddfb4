/**
 * `server-config --install` for real: the drop-ins it writes under a root of
 * the test's own are loaded into a real charon through a copy of Debian's
 * own strongswan.conf tree (which includes them as on a hub), the systemd
 * drop-in's ExecStartPre commands and the sysctls are applied in the hub's
 * namespace, and a pod comes up against that hub.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { inNetns, run } from "../../mod/exec.ts";
import { connectVici, type DaemonPaths, launchDaemon, stopDaemon } from "../../mod/ipsec/daemon.ts";
import { SERVICE_FILES } from "../../mod/hub/service.ts";
import { ViciClient } from "../../mod/ipsec/vici.ts";
import { assertNothingLeft, assertOk, labTest, vipOf } from "./support.ts";

/** Debian's strongSwan configuration as the packages install it, copied under root. */
async function copyDebianTree(root: string): Promise<void> {
  await Deno.mkdir(join(root, "etc"), { recursive: true });
  await run([
    "cp",
    "-a",
    "/etc/strongswan.conf",
    "/etc/strongswan.d",
    "/etc/swanctl",
    join(root, "etc"),
  ]);
}

/** The `ExecStartPre=` commands of a systemd drop-in, as argv. */
function execStartPre(dropIn: string): string[][] {
  return dropIn.split("\n").filter((l) => l.startsWith("ExecStartPre="))
    .map((l) => l.slice("ExecStartPre=".length).replace(/^-/, "").split(" "));
}

labTest(
  "hub install: the drop-ins load into Debian's strongSwan layout and a pod comes up against it",
  { nodes: 1, hub: false },
  async (lab) => {
    const root = join(lab.dir, "root");
    await copyDebianTree(root);
    const install = () =>
      lab.cli(
        0,
        "server-config",
        join(lab.dir, "network.json"),
        "--install",
        "--root",
        root,
        "--datapath",
        "userspace",
      );
    const out = await install();
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /systemctl daemon-reload && systemctl restart strongswan/);
    const swanctl = join(root, SERVICE_FILES.swanctl);
    assert.equal((await Deno.stat(swanctl)).mode! & 0o777, 0o600, "the PSK's file is root-only");
    const again = await install();
    assert.equal(
      again.stdout.match(/already up to date/g)?.length,
      4,
      "running it again changes nothing",
    );

    // What the service does before strongSwan starts, from the files as written.
    const hubNs = `/run/netns/${lab.hubNetns}`;
    await run(["ip", "-n", lab.hubNetns, "addr", "flush", "dev", "lo", "scope", "global"]);
    for (const argv of execStartPre(await Deno.readTextFile(join(root, SERVICE_FILES.systemd)))) {
      await run(inNetns(hubNs, argv));
    }
    await run(inNetns(hubNs, ["sysctl", "-q", "-p", join(root, SERVICE_FILES.sysctl)]));

    const paths: DaemonPaths = {
      dir: root,
      runDir: join(root, "run"),
      confFile: join(root, "etc/strongswan.conf"),
      // Debian's default socket, /var/run/charon.vici, in the daemon's private /run.
      viciSocket: join(root, "run/charon.vici"),
      logFile: "",
    };
    const hub = launchDaemon(hubNs, paths);
    try {
      (await connectVici(paths, hub, 5000)).close();
      // What strongswan.service runs after start: swanctl --load-all (of swanctl/conf.d/*).
      await run([
        "swanctl",
        "--load-all",
        "--noprompt",
        "--file",
        join(root, "etc/swanctl/swanctl.conf"),
        "--uri",
        `unix://${paths.viciSocket}`,
      ]);
      const vici = await ViciClient.connect(paths.viciSocket);
      let plugins: string[] = [];
      try {
        const stats = await vici.request("stats");
        plugins = (stats.plugins ?? []) as string[];
      } finally {
        vici.close();
      }
      assert.ok(
        plugins.indexOf("kernel-libipsec") >= 0 &&
          plugins.indexOf("kernel-libipsec") < plugins.indexOf("kernel-netlink"),
        `kernel-libipsec loads before kernel-netlink: ${plugins.join(" ")}`,
      );

      const pod = await lab.pod(1, "svc");
      const added = await lab.add(pod);
      assertOk(added);
      assert.match(vipOf(added), /^10\.173\./);
      assert.ok(
        await lab.ping(pod.netnsName, "10.173.0.1"),
        "the pod reaches the hub's own address",
      );
      assertOk(await lab.del(pod));
      await assertNothingLeft(lab, pod);
    } finally {
      await stopDaemon(hub.id);
    }
  },
);
