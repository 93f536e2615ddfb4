/**
 * Shared by the root tests: whether they can run here (and why not), and the
 * checks that an attachment left nothing behind.
 */

import assert from "node:assert/strict";
import { run } from "../../mod/exec.ts";
import { PSK_DIR } from "../../mod/config/schema.ts";
import { attachmentNames } from "../../mod/net/names.ts";
import { Lab, type LabOptions, type Pod } from "../../lab/lab.ts";
import type { PluginOutput } from "../../lab/plugin.ts";
import { procStat } from "../../mod/proc.ts";

const REQUIRED = [
  "/usr/lib/ipsec/charon",
  "/usr/sbin/swanctl",
  "/usr/lib/cni/host-local",
  "/usr/lib/cni/bridge",
  "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so",
  "/usr/lib/ipsec/plugins/libstrongswan-dhcp.so",
  "/usr/sbin/dnsmasq",
  "/usr/sbin/keepalived",
  "/usr/sbin/kea-dhcp4",
  "/usr/bin/podman",
  "/usr/sbin/runc",
  "/bin/busybox",
];

function whyNot(): string | undefined {
  if (Deno.uid() !== 0) return "they need root (network namespaces, veth, iptables)";
  const missing = REQUIRED.filter((p) => {
    try {
      Deno.statSync(p);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) return `missing ${missing.join(", ")} (run .ci/run to install them)`;
  return undefined;
}

const reason = whyNot();
if (reason) console.error(`root tests skipped: ${reason}`);

/** A test that needs root and the real daemons; ignored, with the reason printed, where it cannot run. */
export function rootTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: reason !== undefined,
    fn,
    sanitizeResources: false,
    sanitizeOps: false,
  });
}

/** A root test with its own lab, removed afterwards whatever happens. */
export function labTest(name: string, opts: LabOptions, fn: (lab: Lab) => Promise<void>): void {
  rootTest(name, async () => {
    const lab = await Lab.create(opts);
    try {
      await fn(lab);
    } finally {
      await lab.cleanup();
    }
  });
}

export function assertOk(out: PluginOutput, what = "plugin"): void {
  assert.equal(out.code, 0, `${what} failed (${out.code}): ${out.stdout} ${out.stderr}`);
}

export function assertCniError(out: PluginOutput, code: number): { msg: string } {
  assert.notEqual(out.code, 0, `expected CNI error ${code}, got success: ${out.stdout}`);
  const err = out.json as { code: number; msg: string } | undefined;
  assert.ok(err, `no CNI error JSON on stdout: ${out.stdout} ${out.stderr}`);
  assert.equal(err.code, code, `expected code ${code}: ${out.stdout}`);
  return err;
}

export function vipOf(out: PluginOutput): string {
  const ips = out.json?.ips as { address: string }[];
  return ips[0].address.split("/")[0];
}

export function bridgeIpOf(out: PluginOutput): string {
  const ips = out.json?.ips as { address: string }[];
  return ips[1].address;
}

/** Pids of processes running with this attachment's strongSwan settings. */
export async function daemonsOf(stateDir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const environ = await Deno.readTextFile(`/proc/${e.name}/environ`);
      const stat = procStat(Number(e.name));
      if (stat && stat.state !== "Z" && environ.includes(`STRONGSWAN_CONF=${stateDir}/`)) {
        pids.push(Number(e.name));
      }
    } catch {
      // Gone, or a kernel thread.
    }
  }
  return pids;
}

/** Nothing of the attachment is left: daemon, state, veth, firewall rules, IPAM lease. */
export async function assertNothingLeft(lab: Lab, pod: Pod): Promise<void> {
  const names = await attachmentNames(pod.containerId, pod.ifname);
  assert.deepEqual(await daemonsOf(names.stateDir), [], "a daemon is left");
  await assert.rejects(() => Deno.stat(names.stateDir), "the state directory is left");
  const node = lab.nodeNetns(pod.node);
  const links = (await run(["ip", "-n", node, "-o", "link", "show"])).stdout;
  assert.ok(!links.includes(names.hostVeth), `veth ${names.hostVeth} is left`);
  const nat = (await run(["ip", "netns", "exec", node, "iptables-save", "-t", "nat"])).stdout;
  assert.ok(!nat.includes(names.chain), `chain ${names.chain} is left`);
  assert.ok(!nat.includes(pod.containerId), "a rule for the container is left");
  assert.equal(await leaseOf(lab, pod), undefined, "an IPAM lease is left");
  const podRoutes = await run(["ip", "-n", pod.netnsName, "route", "show", "table", "all"])
    .then((r) =>
      r.stdout.split("\n").filter((l) => l && !/^(local|broadcast|multicast|fe80|ff00)/.test(l))
    )
    .catch(() => []); // The pod's netns is gone: nothing can be left in it.
  assert.deepEqual(podRoutes, [], "routes are left in the pod");
}

/** The host-local lease file naming the container, if any. */
export async function leaseOf(lab: Lab, pod: Pod): Promise<string | undefined> {
  const dir = `${lab.dir}/ipam-node${pod.node}/${lab.network}`;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !/^\d/.test(e.name)) continue;
      if ((await Deno.readTextFile(`${dir}/${e.name}`)).includes(pod.containerId)) return e.name;
    }
  } catch {
    // No lease directory: no lease.
  }
  return undefined;
}

/**
 * A PSK file in the one directory pskFile may name, removed afterwards (the
 * directory too, if this made it). Only tests in one file use it, so they
 * never race over the directory.
 */
export async function withPskFile(
  content: string,
  mode: number,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  // The directories this makes, deepest first, to remove afterwards.
  const made: string[] = [];
  for (let dir = PSK_DIR; dir !== "/etc"; dir = dir.slice(0, dir.lastIndexOf("/"))) {
    try {
      await Deno.lstat(dir);
      break;
    } catch {
      made.push(dir);
    }
  }
  await Deno.mkdir(PSK_DIR, { recursive: true, mode: 0o755 });
  const path = `${PSK_DIR}/test-${crypto.randomUUID().slice(0, 8)}.psk`;
  try {
    await Deno.writeTextFile(path, content, { mode });
    await Deno.chmod(path, mode);
    await fn(path);
  } finally {
    await Deno.remove(path).catch(() => {});
    for (const dir of made) await Deno.remove(dir).catch(() => {});
  }
}

/** The parent of an attachment's strongSwan daemon: the node agent, while it runs, if it ran the ADD. */
export async function daemonParent(
  containerId: string,
  ifname = "eth0",
): Promise<number | undefined> {
  const [pid] = await daemonsOf((await attachmentNames(containerId, ifname)).stateDir);
  return pid === undefined ? undefined : procStat(pid)?.parent;
}

/** Whether the process is gone (or a zombie awaiting its reaper). */
export function processGone(pid: number): boolean {
  const stat = procStat(pid);
  return !stat || stat.state === "Z";
}

/** Polls until check returns a value (not undefined), or fails after timeoutMs naming what it waited for. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every pod pings the next one's virtual IP (a ring: each pod sends and receives). */
export async function ringPings(lab: Lab, pods: Pod[], vips: string[]): Promise<string[]> {
  const failed: string[] = [];
  await Promise.all(pods.map(async (p, i) => {
    const to = vips[(i + 1) % vips.length];
    if (!(await lab.ping(p.netnsName, to, 56, 3))) failed.push(`${p.name} -> ${to}`);
  }));
  return failed;
}
