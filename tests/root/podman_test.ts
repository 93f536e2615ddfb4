/**
 * A real CNI runtime: Debian's podman (its CNI backend is libcni, the
 * library kubelet's runtimes use too) runs two containers on a network of
 * this plugin, installed with the plugin's own `install` into folders of the
 * test's own, inside a node namespace of the lab (hub: `server-config`):
 * the first while the node agent serves the node, the second without it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { run } from "../../mod/exec.ts";
import type { Lab, Pod } from "../../lab/lab.ts";
import { assertNothingLeft, assertOk, daemonParent, labTest } from "./support.ts";

interface Podman {
  (...args: string[]): Promise<string>;
}

/** podman in node 1's namespace, with the test's own storage, containers.conf and CNI folders. */
async function podmanFor(lab: Lab, binDir: string, confDir: string): Promise<Podman> {
  const dir = join(lab.dir, "podman");
  await Deno.mkdir(dir);
  const containersConf = join(dir, "containers.conf");
  await Deno.writeTextFile(
    containersConf,
    `[network]
network_backend = "cni"
cni_plugin_dirs = ["${binDir}", "/usr/lib/cni"]
network_config_dir = "${confDir}"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${dir}/events.log"
`,
  );
  const base = [
    "nsenter",
    `--net=/run/netns/${lab.nodeNetns(1)}`,
    "podman",
    "--root",
    join(dir, "storage"),
    "--runroot",
    join(dir, "runroot"),
    "--storage-driver",
    "vfs",
    "--tmpdir",
    join(dir, "tmp"),
  ];
  return async (...args: string[]) => {
    const { stdout } = await run([...base, ...args], {
      env: { CONTAINERS_CONF: containersConf, HOME: dir },
      timeoutMs: 60_000,
    });
    return stdout.trim();
  };
}

/** A local image without a registry: busybox-static, packed with tar, imported. */
async function importBusybox(lab: Lab, podman: Podman): Promise<string> {
  const rootfs = join(lab.dir, "rootfs");
  await Deno.mkdir(join(rootfs, "bin"), { recursive: true });
  await Deno.copyFile("/bin/busybox", join(rootfs, "bin/busybox"));
  for (const applet of ["sh", "ping", "ip", "sleep"]) {
    await Deno.symlink("busybox", join(rootfs, "bin", applet));
  }
  const tarball = join(lab.dir, "rootfs.tar");
  await run(["tar", "-C", rootfs, "-cf", tarball, "."]);
  const image = `localhost/swbusybox${lab.id}`;
  await podman("import", tarball, image);
  return image;
}

labTest(
  "podman: two containers on the plugin's network (one through the node agent) get virtual IPs, ping each other over the tunnel, and rm leaves nothing",
  { nodes: 1, leaseServer: true },
  async (lab) => {
    const binDir = join(lab.dir, "cni-bin");
    const confDir = join(lab.dir, "cni-conf");
    // The operator's commented source. Podman 4.3's libcni reads results up to 1.0.0.
    const source = join(lab.dir, "network.jsonc");
    await Deno.writeTextFile(
      source,
      `// A pod network of this plugin, installed by \`strongswan install\`.\n${
        JSON.stringify(lab.config(1, { cniVersion: "1.0.0" }), null, 2)
      }\n`,
    );
    const installed = await lab.cli(
      1,
      "install",
      "--config",
      source,
      "--bin-dir",
      binDir,
      "--conf-dir",
      confDir,
    );
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stderr, /cniVersion 1\.0\.0 switches off STATUS, GC/);

    const podman = await podmanFor(lab, binDir, confDir);
    const image = await importBusybox(lab, podman);
    const names = [`c1${lab.id}`, `c2${lab.id}`];
    const ids: string[] = [];
    const runContainer = (name: string) =>
      podman(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        lab.network,
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=4096:4096",
        image,
        "sleep",
        "600",
      );
    try {
      // The first ADD through the node's agent, the second (agent stopped) in the plugin's process.
      await lab.startAgent(1);
      ids.push(await runContainer(names[0]));
      assert.equal(await daemonParent(ids[0]), lab.agent(1)!.pid, "the agent served podman's ADD");
      await lab.stopAgent(1);
      ids.push(await runContainer(names[1]));
      const addresses = (await podman(
        "inspect",
        "--format",
        `{{(index .NetworkSettings.Networks "${lab.network}").IPAddress}}`,
        ...names,
      )).split("\n");
      const held = (await lab.hubSas()).map((s) => s.vip).sort();
      assert.deepEqual([...addresses].sort(), held, "podman reports each container's virtual IP");
      for (const a of addresses) assert.match(a, /^10\.173\./);
      await podman("exec", names[0], "ping", "-c", "2", "-W", "2", addresses[1]);
      await podman("exec", names[1], "ping", "-c", "2", "-W", "2", addresses[0]);

      const units = join(lab.dir, "units");
      const uninstall = [
        "uninstall",
        "--bin-dir",
        binDir,
        "--conf-dir",
        confDir,
        "--unit-dir",
        units,
      ];
      const refused = await lab.cli(1, ...uninstall);
      assert.equal(refused.code, 1);
      // All nodes of the lab (and parallel tests) share one state directory: count ours only.
      for (const id of ids) {
        assert.match(refused.stderr, new RegExp(`still run on this node: .*${id}/eth0`));
      }

      await podman("rm", "-f", "-t", "0", ...names);
      const pods: Pod[] = ids.map((id) => ({
        name: id,
        node: 1,
        netnsName: "",
        netns: "",
        containerId: id,
        ifname: "eth0",
      }));
      for (const pod of pods) await assertNothingLeft(lab, pod);
      assert.equal(await lab.hubSaCount(), 0, "no SA left on the hub");
      assert.deepEqual(await lab.leases(), [], "no lease left");
      // --force: other tests' attachments share this state directory (one per node for real).
      const removed = await lab.cli(1, ...uninstall, "--force");
      assertOk({ ...removed, json: undefined, ms: 0 }, "uninstall");
      assert.match(removed.stdout, /removed .*cni-bin\/strongswan\nremoved .*10-lab.*\.conflist/);
    } finally {
      await podman("rm", "-f", "-t", "0", ...names).catch(() => {});
      await podman("rmi", "-f", image).catch(() => {});
    }
  },
);
