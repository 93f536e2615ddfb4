/**
 * The main job: a hub pair (keepalived moves serverIP), a lease server and
 * two nodes in network namespaces, two pods per node (both nodes on the same
 * 172.17.0.0/16 bridge subnet, as in the seed), the plugin's ADD for each pod
 * exactly as a runtime runs it (node 1's calls served by its node agent,
 * node 2's each in a process of its own), a ping matrix over the virtual IPs; then the
 * active hub's strongSwan crashes and restarts, and every pod comes back by
 * itself with its address; then the active hub's host is cut off mid-ping
 * and every pod moves to the standby, again with its address; then DEL for
 * all and a check that nothing is left.
 */

import { attachmentNames } from "../mod/net/names.ts";
import { Lab, LEASE_SERVER_IP, type Pod, SERVER_IP } from "./lab.ts";
import type { PluginOutput } from "./plugin.ts";

const NODES = 2;
const PODS_PER_NODE = 2;
const RECOVERY_LIMIT_MS = 60_000;

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

async function leftovers(lab: Lab, pods: Pod[]): Promise<string[]> {
  const found: string[] = [];
  for (const pod of pods) {
    const names = await attachmentNames(pod.containerId, pod.ifname);
    try {
      await Deno.stat(names.stateDir);
      found.push(`state directory of ${pod.name}`);
    } catch {
      // Gone, as it should be.
    }
  }
  for (const hub of [1, 2]) {
    const sas = await lab.hubSaCount(hub);
    if (sas > 0) found.push(`${sas} IKE_SA(s) on hub ${hub}`);
  }
  const leases = (await lab.leases()).length;
  if (leases > 0) found.push(`${leases} lease(s) on the lease server`);
  return found;
}

/** Prints the ping matrix; returns the number of failed pings. */
async function pingMatrix(lab: Lab, pods: Pod[], vips: string[]): Promise<number> {
  console.log(pad("", 8) + pods.map((p) => pad(p.name, 8)).join(""));
  let failures = 0;
  for (const from of pods) {
    const row = await Promise.all(vips.map((vip) => lab.ping(from.netnsName, vip)));
    failures += row.filter((ok) => !ok).length;
    console.log(pad(from.name, 8) + row.map((ok) => pad(ok ? "ok" : "FAIL", 8)).join(""));
  }
  return failures;
}

/** Waits until a hub holds every pod again; returns the ms it took, or undefined. */
async function waitForPods(lab: Lab, hub: number, count: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < RECOVERY_LIMIT_MS) {
    if ((await lab.hubSas(hub).catch(() => [])).length === count) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

/** Prints how the pods came back; returns whether every one did, with its old address. */
async function reportRecovery(
  lab: Lab,
  hub: number,
  before: Map<string, string>,
  recovery: number | undefined,
  what: string,
): Promise<boolean> {
  const after = await lab.hubSas(hub);
  const changed = after.filter((s) => before.get(s.identity) !== s.vip);
  console.log(
    recovery === undefined
      ? `Not every pod was back within ${RECOVERY_LIMIT_MS / 1000} s.`
      : `Every pod was back by itself on hub ${hub} ${(recovery / 1000).toFixed(1)} s ${what}, ${
        changed.length === 0
          ? "each with the address it had"
          : `but ${changed.length} with another address`
      }.`,
  );
  return recovery !== undefined && changed.length === 0;
}

async function main(): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("The demo needs root: it makes network namespaces, veth pairs and daemons.");
    return 1;
  }
  console.log(
    `Building the LAN: two hubs sharing ${SERVER_IP} (strongSwan and keepalived, configs from`,
  );
  console.log(
    `\`strongswan server-config\`), lease server ${LEASE_SERVER_IP} (dnsmasq: pods' addresses`,
  );
  console.log(
    `outlive the hubs), ${NODES} nodes, ${PODS_PER_NODE} pods each, bridge docker0 172.17.0.0/16 on every node.\n`,
  );
  const lab = await Lab.create({ nodes: NODES, leaseServer: true, hubs: 2 });
  try {
    await lab.startAgent(1);
    console.log(
      "node1 runs the node agent (`strongswan agent`); node2 does not: its calls each run in a process of their own.\n",
    );
    const pods: Pod[] = [];
    for (let n = 1; n <= NODES; n++) {
      for (let p = 1; p <= PODS_PER_NODE; p++) pods.push(await lab.pod(n, `pod${n}${p}`));
    }
    const added: PluginOutput[] = [];
    for (const pod of pods) added.push(await lab.add(pod));
    const failed = added.findIndex((o) => o.code !== 0);
    if (failed >= 0) {
      console.error(
        `ADD failed for ${pods[failed].name}: ${added[failed].stdout}${added[failed].stderr}`,
      );
      return 1;
    }
    const vip = (o: PluginOutput) =>
      (o.json!.ips as { address: string }[])[0].address.split("/")[0];
    const bridgeIp = (o: PluginOutput) => (o.json!.ips as { address: string }[])[1].address;
    const vips = added.map(vip);

    console.log(
      `${pad("pod", 8)}${pad("node", 8)}${pad("bridge IP", 16)}${pad("virtual IP", 16)}${
        pad("ADD time", 10)
      }served by`,
    );
    pods.forEach((pod, i) => {
      console.log(
        `${pad(pod.name, 8)}${pad(`node${pod.node}`, 8)}${pad(bridgeIp(added[i]), 16)}${
          pad(vips[i], 16)
        }${pad(`${added[i].ms.toFixed(0)} ms`, 10)}${pod.node === 1 ? "the agent" : "its process"}`,
      );
    });

    console.log("\nPing matrix over the virtual IPs (rows ping columns, through the IPsec hub):");
    let failures = await pingMatrix(lab, pods, vips);

    const active = await lab.activeHub();
    const standby = 3 - active;
    console.log(
      `\nHub ${active} (active) has strongSwan crash (SIGKILL: no goodbye to the pods); it is started again.`,
    );
    const before = new Map((await lab.hubSas(active)).map((s) => [s.identity, s.vip]));
    await lab.crashHub(active);
    await lab.startHub(active);
    let kept = await reportRecovery(
      lab,
      active,
      before,
      await waitForPods(lab, active, pods.length),
      "after it restarted (dead peer detection)",
    );
    console.log("Ping matrix after the restart:");
    failures += await pingMatrix(lab, pods, vips);

    console.log(
      `\nHub ${active}'s host is cut off the LAN while ${pods[0].name} pings ${
        pods[2].name
      }; hub ${standby} takes over ${SERVER_IP}.`,
    );
    const pinging = lab.startPing(pods[0].netnsName, vips[2]);
    await new Promise((r) => setTimeout(r, 2000));
    await lab.partitionHub(true, active);
    const failover = await waitForPods(lab, standby, pods.length);
    kept = await reportRecovery(lab, standby, before, failover, "after the cut (VRRP, then DPD)") &&
      kept;
    console.log(`Hub ${standby} is now the active one: ${(await lab.activeHub()) === standby}.`);
    await new Promise((r) => setTimeout(r, 2000));
    const { sent, received } = await pinging.stop();
    console.log(
      `The ping across the cut: ${received} of ${sent} answered; the rest were lost while the tunnel moved (none left the pod in clear).`,
    );
    console.log("Ping matrix after the failover:");
    failures += await pingMatrix(lab, pods, vips);
    await lab.partitionHub(false, active);
    // Its leftover SAs would go by dead peer detection within a minute; a restart drops them now.
    // Their leases are safe either way: a standby has no route to the lease server.
    await lab.stopHub(active);
    await lab.startHub(active);
    const leases = (await lab.leases()).length;
    console.log(
      `Hub ${active} is back as the standby and restarted; the lease server still holds ${leases} of ${pods.length} leases.`,
    );
    kept = kept && leases === pods.length && (await lab.activeHub()) === standby;

    const deleted: PluginOutput[] = [];
    for (const pod of pods) deleted.push(await lab.del(pod));
    const delFailed = deleted.filter((o) => o.code !== 0).length;
    // The hub releases each lease as the pod's SA goes.
    await new Promise((r) => setTimeout(r, 200));
    const agentSocket = /serving (\S+)/.exec(lab.agentLog(1))?.[1] ?? "";
    const agentEnd = await lab.stopAgent(1);
    const left = await leftovers(lab, pods);
    if (agentEnd.code !== 0) left.push(`the agent ended with code ${agentEnd.code}`);
    if (await Deno.lstat(agentSocket).then(() => true, () => false)) {
      left.push(`the agent's socket ${agentSocket}`);
    }
    const delMs = deleted.map((o) => o.ms.toFixed(0)).join(", ");
    console.log(
      `\nDEL for every pod: ${delFailed === 0 ? "ok" : `${delFailed} failed`} (${delMs} ms)`,
    );
    console.log(
      `Left behind: ${
        left.length === 0
          ? "nothing (no daemon, state, hub SA, lease, or agent socket)"
          : left.join("; ")
      }`,
    );
    const ok = failures === 0 && kept && delFailed === 0 && left.length === 0;
    console.log(ok ? "\nDemo passed." : `\nDemo FAILED: ${failures} ping(s) failed.`);
    return ok ? 0 : 1;
  } finally {
    await lab.cleanup();
  }
}

Deno.exit(await main());
