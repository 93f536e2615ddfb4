/**
 * ADD: the bridge half (as the reference bridge plugin), then the IPsec half.
 * The slow, independent steps run at once: charon starts while IPAM, the
 * links and the node route are set up; the pod's side is set up while
 * charon's socket is awaited and given the connection; the `ip` that did
 * that stays to put the virtual IP on the pod's interface once IKE is up.
 * Every step registers its undo first; any failure unwinds.
 */

import type { CniEnv } from "../cni/env.ts";
import { CniError, Code } from "../cni/errors.ts";
import type { Result } from "../cni/result.ts";
import type { NetConf } from "../config/load.ts";
import { readPsk } from "../config/psk.ts";
import { podStrongswanConf } from "../ipsec/config.ts";
import { connectVici, daemonPaths, isOurDaemon, startDaemon } from "../ipsec/daemon.ts";
import { DEFAULT_TIMEOUT_MS } from "../exec.ts";
import { resolveDatapath } from "../ipsec/datapath.ts";
import { planTunnelGuard } from "../ipsec/guard.ts";
import { virtualIpLine } from "../ipsec/vip.ts";
import { initiateTunnel, loadTunnel, terminateTunnel } from "../ipsec/tunnel.ts";
import type { ViciClient } from "../ipsec/vici.ts";
import { parseCidr } from "../net/cidr.ts";
import { ipamAdd, ipamCall } from "../net/ipam.ts";
import {
  configurePod,
  deleteVeth,
  enableForwarding,
  ensureBridgeAddress,
  gatewaysOf,
  planPodInterface,
  type PodBatch,
  podRoutes,
  setUpNodeSide,
} from "../net/links.ts";
import { addMasquerade, removeMasquerade, ruleComment } from "../net/masq.ts";
import { type AttachmentNames, attachmentNames, ikeIdentity } from "../net/names.ts";
import { ensureNodeRoute, removeNodeRoute } from "../net/noderoute.ts";
import {
  type AttachmentState,
  createStateDir,
  ensureStateRoot,
  listStateDirs,
  netnsIdentity,
  readState,
  STALE_TEMP_MS,
  writeState,
} from "../state.ts";
import { UndoStack } from "../undo.ts";
import { log } from "../log.ts";
import { detach, releaseTunnelGuard } from "./del.ts";
import { teardownDaemon } from "./teardown.ts";

/** How long charon may take to open its vici socket (seen: ~50 ms). */
const DAEMON_START_TIMEOUT_MS = 5000;

/** Index of the pod's interface in the result's interfaces. */
const POD_INTERFACE = 2;

/** Awaits all, then throws the first failure: no step is left running while ADD unwinds. */
async function allOrFirstError<T extends readonly unknown[]>(
  promises: { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * Makes the attachment's state directory. One that exists already is
 * either live (a duplicate ADD: code 4) or stale (its daemon is gone: a
 * reboot, or an ADD killed long ago), which is detached first.
 */
async function claimStateDir(
  env: CniEnv,
  conf: NetConf,
  names: AttachmentNames,
  state: AttachmentState,
): Promise<void> {
  ensureStateRoot();
  if (createStateDir(names.stateDir, state)) return;
  const existing = readState(names.stateDir);
  const age = Date.now() - (Deno.lstatSync(names.stateDir).mtime?.getTime() ?? 0);
  const live = existing?.daemon ? isOurDaemon(existing.daemon) : age < STALE_TEMP_MS;
  if (live) {
    throw new CniError(
      Code.InvalidEnv,
      `attachment ${env.containerId}/${env.ifname} already exists; DEL it before adding it again`,
    );
  }
  log.warn(`ADD ${env.containerId}/${env.ifname}: removing what a previous attachment left`);
  await detach(env, conf, {
    containerId: env.containerId,
    ifname: env.ifname,
    netns: existing?.netns ?? "",
  });
  if (!createStateDir(names.stateDir, state)) {
    throw new CniError(
      Code.InvalidEnv,
      `attachment ${env.containerId}/${env.ifname} already exists`,
    );
  }
}

/** Whether any other attachment of this network remains on the node. */
function networkInUse(conf: NetConf, ownDir: string): boolean {
  return listStateDirs().some((s) => s.dir !== ownDir && s.state?.network === conf.name);
}

export async function cmdAdd(env: CniEnv, conf: NetConf): Promise<Result> {
  const psk = await readPsk(conf.vpn);
  const netnsId = netnsIdentity(env.netns);
  if (!netnsId) {
    throw new CniError(Code.UnknownContainer, `network namespace ${env.netns} does not exist`);
  }
  const names = await attachmentNames(env.containerId, env.ifname);
  const state: AttachmentState = {
    network: conf.name,
    containerId: env.containerId,
    ifname: env.ifname,
    netns: env.netns,
    netnsId,
    identity: ikeIdentity(env.containerId, env.ifname, env.pod),
    ...(env.pod ? { pod: env.pod } : {}),
  };
  await claimStateDir(env, conf, names, state);

  const undo = new UndoStack();
  const started = performance.now();
  const phase = (what: string) =>
    log.debug(
      `ADD ${env.containerId}: ${what} after ${(performance.now() - started).toFixed(1)} ms`,
    );
  let client: ViciClient | undefined;
  // The pod's ip waits for its last line (the virtual IP) until this settles.
  const vipLine = Promise.withResolvers<string>();
  let podBatch: PodBatch | undefined;
  try {
    undo.push(
      "stop the daemon, remove its directory",
      () => teardownDaemon(names.stateDir, state.daemon),
    );
    const datapath = await resolveDatapath(conf.vpn.datapath, env.netns);
    const paths = daemonPaths(names.stateDir);
    const daemon = startDaemon(
      env.netns,
      paths,
      podStrongswanConf(datapath, env.ifname, paths),
    );
    phase("charon started");
    // Recorded with the rest once ADD is done: DEL finds a daemon not yet recorded (findDaemon).
    state.daemon = daemon.id;

    const target = { containerId: env.containerId, netns: env.netns, ifname: env.ifname };
    undo.push("release IPAM lease", () => ipamCall("DEL", target, env, conf));
    undo.push("delete veth", () => deleteVeth(names.hostVeth));
    let nodeRoute: string[] | undefined;
    undo.push("remove the node route", async () => {
      if (nodeRoute && !networkInUse(conf, names.stateDir)) {
        await removeNodeRoute(nodeRoute);
      }
    });
    const [ipam, bridge] = await allOrFirstError(
      [
        ipamAdd(target, env, conf),
        setUpNodeSide(conf, names, env.ifname, env.netns),
        ensureNodeRoute(conf.vpn.virtualSubnet, conf.vpn.serverIP).then((r) => nodeRoute = r),
      ] as const,
    );
    phase("IPAM done, veth made, node route set");

    const ips = gatewaysOf(conf, ipam.ips).map((ip) => ({ ...ip, interface: POD_INTERFACE }));
    const routes = podRoutes(conf, ips, ipam.routes);
    const gateway = ips.find((ip) => ip.gateway);
    const guard = planTunnelGuard(conf, env.ifname, gateway?.gateway);
    const podLines = planPodInterface(env.ifname, ips, routes);
    if (conf.ipMasq) undo.push("remove masquerade", () => removeMasquerade(names.chain));
    undo.push(
      "remove the tunnel guard",
      () => releaseTunnelGuard(names.stateDir, netnsId, env.netns, conf),
    );
    enableForwarding();
    podBatch = configurePod(
      env.netns,
      env.ifname,
      [...podLines, ...guard.lines],
      new Set(guard.lines.map((l, i) => l.startsWith("rule ") ? podLines.length + i : -1)),
      vipLine.promise,
      conf.vpn.timeout * 1000 + DEFAULT_TIMEOUT_MS,
    );
    await allOrFirstError([
      // charon is the slowest of phase one. Its socket is asked only now (the
      // polls spared the other steps CPU), while the pod's side is set up.
      connectVici(paths, daemon, DAEMON_START_TIMEOUT_MS).then((vici) => {
        client = vici;
        return loadTunnel(vici, conf, state.identity, psk);
      }),
      podBatch.configured,
      conf.isGateway && gateway
        ? ensureBridgeAddress(
          conf,
          bridge,
          `${gateway.gateway}/${parseCidr(gateway.address)!.prefix}`,
        )
        : Promise.resolve(),
      conf.ipMasq
        ? addMasquerade(
          names.chain,
          ips.map((ip) => ip.address),
          ruleComment(conf.name, env.containerId),
        )
        : Promise.resolve(),
    ]);

    phase("charon loaded; pod interface, guard, gateway and masquerade set");
    // Unwound before the pod's network goes, so the hub hears the DELETE.
    undo.push("end the IKE_SA", () => terminateTunnel(paths.viciSocket));
    const initiated = initiateTunnel(client!, conf, paths.logFile);
    // With the kernel datapath charon puts it on the interface itself (install_virtual_ip_on).
    vipLine.resolve(
      datapath === "userspace" ? initiated.then((vip) => virtualIpLine(env.ifname, vip)) : "",
    );
    const [vip] = await allOrFirstError([initiated, podBatch.done]);
    phase(`tunnel up, virtual IP ${vip} on ${env.ifname}`);

    state.virtualIp = vip;
    state.podAddresses = ips.map((ip) => ip.address);
    state.addedAt = new Date().toISOString();
    writeState(names.stateDir, state);
    return {
      interfaces: [
        { name: conf.bridge, mac: bridge.mac },
        { name: names.hostVeth, mac: names.hostMac },
        { name: env.ifname, mac: names.podMac, sandbox: env.netns },
      ],
      // The virtual IP first: it is the pod's address on the IPsec network.
      ips: [{ address: `${vip}/32`, interface: POD_INTERFACE }, ...ips],
      routes: [...routes, ...guard.routes],
      dns: conf.dns ?? ipam.dns,
    };
  } catch (err) {
    if (podBatch) {
      // Its ip ends without the virtual IP.
      vipLine.reject(err);
      await podBatch.done.catch(() => {});
    }
    await undo.unwind();
    throw err;
  } finally {
    client?.close();
  }
}
