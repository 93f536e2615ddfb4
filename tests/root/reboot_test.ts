/**
 * A node reboots: state directories stay, daemons and namespaces are gone,
 * pids are reused. DEL, GC and ADD must cope without touching anything
 * that is not theirs. Also `status` against real daemons.
 */

import assert from "node:assert/strict";
import { run } from "../../mod/exec.ts";
import { daemonId } from "../../mod/ipsec/daemon.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import { readState, writeState } from "../../mod/state.ts";
import type { Lab, Pod } from "../../lab/lab.ts";
import { assertNothingLeft, assertOk, daemonsOf, labTest, processGone, vipOf } from "./support.ts";

/** What a reboot leaves of an attachment: its state directory, with a daemon of an earlier boot. */
async function reboot(lab: Lab, pod: Pod): Promise<void> {
  const { stateDir } = await attachmentNames(pod.containerId, pod.ifname);
  for (const pid of await daemonsOf(stateDir)) Deno.kill(pid, "SIGKILL");
  await lab.removePodNetns(pod);
  const state = readState(stateDir)!;
  state.daemon = { ...state.daemon!, bootId: "an-earlier-boot" };
  writeState(stateDir, state);
}

/** A live process of ours, standing in for whatever got the recorded pid after the reboot. */
function bystander(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["600"], stdout: "null", stderr: "null" }).spawn();
}

labTest(
  "reboot: DEL cleans up by the recorded pid without touching the live process that now has it",
  { nodes: 1 },
  async (lab) => {
    const sleeper = bystander();
    try {
      const live = daemonId(sleeper.pid)!;
      const cases: [string, (id: typeof live) => typeof live][] = [
        ["an earlier boot", (id) => ({ ...id, bootId: "an-earlier-boot" })],
        ["this boot, another start time", (id) => ({ ...id, startTime: "1" })],
      ];
      for (const [what, recorded] of cases) {
        const pod = await lab.pod(1, `rb${what.length}`);
        assertOk(await lab.add(pod));
        await reboot(lab, pod);
        const { stateDir } = await attachmentNames(pod.containerId, pod.ifname);
        const state = readState(stateDir)!;
        writeState(stateDir, { ...state, daemon: recorded(live) });
        assertOk(await lab.del(pod), `DEL (${what})`);
        assert.ok(
          !processGone(sleeper.pid),
          `the process with the recorded pid lives (${what})`,
        );
        await assertNothingLeft(lab, pod);
      }
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
    }
  },
);

labTest(
  "reboot: GC removes attachments not in the valid list; ADD works for a reused container ID",
  { nodes: 1 },
  async (lab) => {
    const stale = await lab.pod(1, "stale");
    const reused = await lab.pod(1, "reused");
    assertOk(await lab.add(stale));
    assertOk(await lab.add(reused));
    await reboot(lab, stale);
    await reboot(lab, reused);
    const gc = await lab.gc([reused]);
    assertOk(gc, "GC");
    await assertNothingLeft(lab, stale);
    // The runtime starts the container again under the same ID, in a new namespace.
    const again = { ...(await lab.pod(1, "reused2")), containerId: reused.containerId };
    const out = await lab.add(again);
    assertOk(out, "ADD for a reused container ID");
    assert.ok(await lab.ping(again.netnsName, "10.9.0.2"));
    assertOk(await lab.del(again));
    await assertNothingLeft(lab, again);
  },
);

labTest(
  "reboot: DEL for an old container ID does not touch a new attachment in a namespace at the same path",
  { nodes: 1 },
  async (lab) => {
    const old = await lab.pod(1, "same");
    assertOk(await lab.add(old));
    await reboot(lab, old);
    // A new pod's namespace gets the very same path.
    await run(["ip", "netns", "add", old.netnsName]);
    await run(["ip", "-n", old.netnsName, "link", "set", "lo", "up"]);
    const fresh: Pod = { ...old, name: "fresh", containerId: `${old.containerId}x` };
    const out = await lab.add(fresh);
    assertOk(out);
    assertOk(await lab.del(old), "DEL of the old container ID");
    assertOk(
      await lab.exec(fresh, "CHECK", { ...lab.config(1), prevResult: out.json }),
      "CHECK of the new one",
    );
    assert.ok(await lab.ping(fresh.netnsName, "10.9.0.2"), "its tunnel still works");
    assert.ok(await lab.ping(lab.nodeNetns(1), vipOf(out)), "its virtual IP still answers");
    assertOk(await lab.del(fresh));
    await assertNothingLeft(lab, fresh);
    await run(["ip", "netns", "del", old.netnsName]);
  },
);

labTest(
  "status: lists the node's attachments, names a killed daemon and a deleted SA, and exits 1",
  { nodes: 1 },
  async (lab) => {
    const pods = [await lab.pod(1, "s1"), await lab.pod(1, "s2"), await lab.pod(1, "s3")];
    const outs = await Promise.all(pods.map((p) => lab.add(p)));
    outs.forEach((o) => assertOk(o));
    const healthy = await lab.cli(1, "status", "--network", lab.network, "--json");
    assert.equal(healthy.code, 0, healthy.stdout);
    const rows = JSON.parse(healthy.stdout) as { virtualIp: string; tunnel: { state: string } }[];
    assert.deepEqual(rows.map((r) => r.virtualIp).sort(), outs.map(vipOf).sort());
    assert.ok(rows.every((r) => r.tunnel.state === "ESTABLISHED"));

    const killed = await attachmentNames(pods[0].containerId, "eth0");
    for (const pid of await daemonsOf(killed.stateDir)) Deno.kill(pid, "SIGKILL");
    // The SA ended from the pod's side: the pod does not restart what it ended itself.
    const ended = await attachmentNames(pods[1].containerId, "eth0");
    await run([
      "swanctl",
      "--terminate",
      "--ike",
      "hub",
      "--uri",
      `unix://${ended.stateDir}/charon.vici`,
    ]);
    const text = await lab.cli(1, "status", "--network", lab.network);
    assert.equal(text.code, 1, text.stdout);
    assert.match(
      text.stdout,
      new RegExp(`${pods[0].containerId}/eth0: its strongSwan daemon is not running`),
    );
    assert.match(
      text.stdout,
      new RegExp(`${pods[1].containerId}/eth0: no IKE_SA: the tunnel is down`),
    );
    assert.match(text.stdout, /2 of 3 attachment\(s\) unhealthy/);

    const hub = await lab.cli(
      0,
      "status",
      "--hub",
      `${lab.dir}/network.json`,
      "--vici-socket",
      lab.hubViciSocket(),
    );
    assert.equal(hub.code, 0, hub.stderr);
    assert.match(hub.stdout, /this hub holds 10\.9\.0\.2: active/);
    assert.match(
      hub.stdout,
      new RegExp(`eth0@${pods[2].containerId}\\s+${vipOf(outs[2]).replaceAll(".", "\\.")}`),
    );
  },
);
