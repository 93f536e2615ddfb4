/**
 * The bridge, the veth pair and the pod's interface, as the reference bridge
 * plugin makes them. Planners (pure) say which `ip` commands to run; the thin
 * executors below run them, batched so each side costs one exec.
 */

import { CniError, Code } from "../cni/errors.ts";
import type { IpConfig, Route } from "../cni/result.ts";
import type { NetConf } from "../config/load.ts";
import { DEFAULT_TIMEOUT_MS, ExecError, ipInNetns, run } from "../exec.ts";
import { addressOf, formatIPv4, networkOf, parseCidr } from "./cidr.ts";
import { type BatchFailure, batchFailures, batchLine } from "./ipbatch.ts";
import { type AttachmentNames, bridgeMac } from "./names.ts";
import { nodeBatch } from "./nodeip.ts";

const DEFAULT_ROUTE = "0.0.0.0/0";

export interface LinkAddress {
  local: string;
  prefixlen: number;
  family: string;
}

export interface BridgeInfo {
  mac: string;
  addresses: LinkAddress[];
}

/** What `ip -j addr show` says of one link. */
interface IpLink {
  ifname: string;
  address?: string;
  flags?: string[];
  promiscuity?: number;
  master?: string;
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: LinkAddress[];
}

function linkFailed(msg: string, err: unknown): CniError {
  return new CniError(Code.LinkFailed, msg, err instanceof Error ? err.message : String(err));
}

const isMissingDevice = (err: ExecError) => /does not exist|Cannot find device/.test(err.stderr);

/** `ip -d -j addr show dev NAME` in the current namespace (or nsPath); undefined if absent. */
export async function showLink(name: string, nsPath?: string): Promise<IpLink | undefined> {
  const args = ["-d", "-j", "addr", "show", "dev", name];
  try {
    const { stdout } = await run(nsPath ? ipInNetns(nsPath, args) : ["ip", ...args]);
    return (JSON.parse(stdout) as IpLink[])[0];
  } catch (err) {
    if (err instanceof ExecError && isMissingDevice(err)) return undefined;
    throw err;
  }
}

// ---- planners --------------------------------------------------------------

function mtuArgs(conf: NetConf): string[] {
  return conf.mtu ? ["mtu", String(conf.mtu)] : [];
}

/**
 * The node side in one `ip -batch`: the bridge (when createBridgeMac is
 * given: it does not exist yet), the veth pair (the pod end straight into
 * the netns), the host end on the bridge, hairpin, the bridge up, and last a
 * `show` of the bridge (its MAC and addresses). Without -force the batch
 * stops at the first failure; the host end goes on the bridge before the
 * bridge is brought up, so a non-bridge of that name is refused (enslaving
 * fails) before anything touches it.
 */
export function planNodeSide(
  conf: NetConf,
  names: AttachmentNames,
  ifname: string,
  netns: string,
  createBridgeMac: string | undefined,
): { lines: string[]; masterLine: number } {
  const mtu = mtuArgs(conf);
  const lines = [
    ...(createBridgeMac
      ? [
        batchLine(
          "link",
          "add",
          "name",
          conf.bridge,
          ...mtu,
          "address",
          createBridgeMac,
          "type",
          "bridge",
        ),
      ]
      : []),
    batchLine(
      "link",
      "add",
      "name",
      names.hostVeth,
      ...mtu,
      "address",
      names.hostMac,
      "type",
      "veth",
      "peer",
      "name",
      ifname,
      ...mtu,
      "address",
      names.podMac,
      "netns",
      netns,
    ),
  ];
  const masterLine = lines.length;
  lines.push(
    batchLine("link", "set", "dev", names.hostVeth, "master", conf.bridge, "up"),
    batchLine(
      "link",
      "set",
      "dev",
      names.hostVeth,
      "type",
      "bridge_slave",
      "hairpin",
      conf.hairpinMode ? "on" : "off",
    ),
    batchLine(
      "link",
      "set",
      "dev",
      conf.bridge,
      "up",
      ...(conf.promiscMode ? ["promisc", "on"] : []),
    ),
    batchLine("addr", "show", "dev", conf.bridge),
  );
  return { lines, masterLine };
}

/** The gateway each address uses: IPAM's, else (when the bridge is a gateway) the subnet's first address. */
export function gatewaysOf(conf: NetConf, ips: IpConfig[]): IpConfig[] {
  return ips.map((ip) => {
    if (ip.gateway || !conf.isGateway) return ip;
    const c = parseCidr(ip.address)!;
    return { ...ip, gateway: formatIPv4(networkOf(c) + 1) };
  });
}

/** Routes the pod gets: IPAM's, plus the default route via the gateway when isDefaultGateway. */
export function podRoutes(conf: NetConf, ips: IpConfig[], ipamRoutes: Route[]): Route[] {
  const routes = [...ipamRoutes];
  const gw = ips.find((ip) => ip.gateway)?.gateway;
  if (conf.isDefaultGateway && gw && !routes.some((r) => r.dst === DEFAULT_ROUTE)) {
    routes.push({ dst: DEFAULT_ROUTE, gw });
  }
  return routes;
}

/** `ip -batch` lines run inside the pod: addresses, link up, routes. */
export function planPodInterface(ifname: string, ips: IpConfig[], routes: Route[]): string[] {
  const gw = ips.find((ip) => ip.gateway)?.gateway;
  return [
    ...ips.map((ip) => batchLine("addr", "add", ip.address, "dev", ifname)),
    batchLine("link", "set", "dev", ifname, "up"),
    ...routes.map((r) => {
      const via = r.gw ?? gw;
      return batchLine("route", "add", r.dst, ...(via ? ["via", via] : []), "dev", ifname);
    }),
  ];
}

/**
 * The bridge's gateway address: what to add, what to remove. As the
 * reference: another IPv4 address on the bridge is an error unless
 * forceAddress, which replaces it.
 */
export function planBridgeAddress(
  bridge: string,
  existing: LinkAddress[],
  gatewayCidr: string,
  forceAddress: boolean,
): { add?: string; remove: string[] } {
  const wanted = addressOf(gatewayCidr);
  const v4 = existing.filter((a) => a.family === "inet");
  if (v4.some((a) => a.local === wanted)) return { remove: [] };
  const others = v4.map((a) => `${a.local}/${a.prefixlen}`);
  if (others.length > 0 && !forceAddress) {
    throw new CniError(
      Code.LinkFailed,
      `bridge "${bridge}" already has address ${
        others.join(", ")
      }, not the gateway ${gatewayCidr}; set forceAddress to replace it`,
    );
  }
  return { add: gatewayCidr, remove: others };
}

// ---- executors ---------------------------------------------------------------

/** Whether a link of that name exists in this process's network namespace (/proc/net/dev is per namespace). */
export function linkExists(name: string): boolean {
  const text = Deno.readTextFileSync("/proc/net/dev");
  return text.split("\n").slice(2).some((l) => l.trim().split(":")[0] === name);
}

/** A link's ifindex in this process's network namespace, "" when there is none. */
function linkIndex(name: string): string {
  try {
    return Deno.readTextFileSync(`/sys/class/net/${name}/ifindex`).trim();
  } catch {
    return "";
  }
}

/**
 * The bridge (created with its fixed MAC unless it exists, tolerating a
 * racing ADD) and the veth pair on it, in one exec; the bridge's MAC and
 * addresses as the batch's `show` printed them.
 */
export async function setUpNodeSide(
  conf: NetConf,
  names: AttachmentNames,
  ifname: string,
  netns: string,
): Promise<BridgeInfo> {
  const mac = await bridgeMac(conf.bridge);
  for (let attempt = 0;; attempt++) {
    const create = !linkExists(conf.bridge);
    const { lines, masterLine } = planNodeSide(
      conf,
      names,
      ifname,
      netns,
      create ? mac : undefined,
    );
    try {
      const { stdout } = await nodeBatch(lines, DEFAULT_TIMEOUT_MS, {
        [conf.bridge]: linkIndex(conf.bridge),
      });
      const link = (JSON.parse(stdout) as IpLink[])[0];
      return { mac: link.address ?? "", addresses: link.addr_info ?? [] };
    } catch (err) {
      const failure = err instanceof ExecError ? batchFailures(err.stderr)[0] : undefined;
      // A racing ADD created the bridge between the look and the batch: once more, without.
      if (create && attempt === 0 && failure?.line === 0 && /File exists/.test(failure.message)) {
        continue;
      }
      if (failure?.line === masterLine) {
        throw new CniError(
          Code.LinkFailed,
          `"${conf.bridge}" already exists and is not a bridge (${failure.message}); name another bridge`,
        );
      }
      throw linkFailed(
        `cannot set up bridge "${conf.bridge}" and veth pair ${names.hostVeth}/${ifname}`,
        err,
      );
    }
  }
}

/** Deletes the host end, which takes the pod end with it; absent is fine. */
export async function deleteVeth(name: string): Promise<void> {
  try {
    await run(["ip", "link", "del", "dev", name]);
  } catch (err) {
    if (err instanceof ExecError && isMissingDevice(err)) return;
    throw err;
  }
}

/**
 * A line that fails, and does nothing else, once every line before it has
 * run: ip prints its failure on stderr, which is unbuffered (stdout into a
 * pipe is not). No interface can be named with a "/".
 */
const SYNC_LINE = batchLine("link", "show", "dev", "strongswan-cni/sync");

/** The first failure of a pod batch that matters: not the sync line's, nor a line of mayExist's whose rule exists. */
export function podBatchFailure(
  stderr: string,
  syncLine: number,
  mayExist: ReadonlySet<number>,
): BatchFailure | undefined {
  return batchFailures(stderr).find((f) =>
    f.line !== syncLine && !(mayExist.has(f.line) && /File exists/.test(f.message))
  );
}

/** Whether the pod batch's stderr shows that its sync line has run. */
export function batchSynced(stderr: string, syncLine: number): boolean {
  return batchFailures(stderr).some((f) => f.line === syncLine);
}

export interface PodBatch {
  /** Settles once the lines have run: rejects with the first that failed. */
  configured: Promise<void>;
  /** Settles once ip has run the later line too (or got none) and ended. */
  done: Promise<void>;
}

/**
 * Runs the pod's `ip -batch` lines (planPodInterface's, and whatever else the
 * pod needs), then leaves that ip waiting for one more line, `later` (the
 * virtual IP, known once IKE is up): one exec in the pod, not two. A later
 * that rejects or gives "" ends ip with nothing more. Lines in mayExist may
 * fail with "File exists": another attachment in the same pod made the
 * same rule.
 */
export function configurePod(
  netns: string,
  ifname: string,
  lines: string[],
  mayExist: ReadonlySet<number>,
  later: Promise<string>,
  timeoutMs: number,
): PodBatch {
  const all = [...lines, SYNC_LINE];
  const failed = (failure: BatchFailure) =>
    new CniError(
      Code.LinkFailed,
      `cannot configure ${ifname} in ${netns}: "${all[failure.line]}" failed: ${failure.message}`,
    );
  let stderr = "";
  let synced = false;
  const sync = Promise.withResolvers<void>();
  const done = run(ipInNetns(netns, ["-force", "-batch", "-"]), {
    stdin: [
      `${all.join("\n")}\n`,
      later.then((line) => {
        if (line) all.push(line);
        return line && `${line}\n`;
      }),
    ],
    timeoutMs,
    onStderr: (text) => {
      stderr += text;
      if (synced || !batchSynced(stderr, lines.length)) return;
      synced = true;
      // Only the lines before the sync line: the later one may have run by now too.
      const failure = podBatchFailure(stderr, lines.length, mayExist);
      if (failure && failure.line < lines.length) sync.reject(failed(failure));
      else sync.resolve();
    },
  }).then(() => {}, (err) => {
    // The sync line fails every time: ip ends with code 1 when all went well (it said so
    // of the sync line; one that could not even enter the namespace did not).
    const failure = err instanceof ExecError && err.exitCode !== null
      ? podBatchFailure(err.stderr, lines.length, mayExist)
      : undefined;
    if (
      err instanceof ExecError && err.exitCode !== null && !failure &&
      batchSynced(err.stderr, lines.length)
    ) return;
    throw failure ? failed(failure) : linkFailed(`cannot configure ${ifname} in ${netns}`, err);
  });
  // Ended before its sync line was seen: how it ended says how the lines went.
  done.then(() => sync.resolve(), (err) => sync.reject(err));
  // Whoever gets it awaits it; a failure no one awaits (ADD failed elsewhere first) is no fault.
  sync.promise.catch(() => {});
  return { configured: sync.promise, done };
}

export async function ensureBridgeAddress(
  conf: NetConf,
  bridge: BridgeInfo,
  gatewayCidr: string,
): Promise<void> {
  const plan = planBridgeAddress(conf.bridge, bridge.addresses, gatewayCidr, conf.forceAddress);
  try {
    for (const old of plan.remove) await run(["ip", "addr", "del", old, "dev", conf.bridge]);
    if (plan.add) {
      await run(["ip", "addr", "add", plan.add, "dev", conf.bridge]).catch((err) => {
        // Another ADD added it first.
        if (!(err instanceof ExecError && /File exists|already assigned/.test(err.stderr))) {
          throw err;
        }
      });
    }
  } catch (err) {
    throw linkFailed(`cannot put gateway ${gatewayCidr} on bridge "${conf.bridge}"`, err);
  }
}

/** Turns on IPv4 forwarding in the current namespace (the node), as the reference does. */
export function enableForwarding(): void {
  const path = "/proc/sys/net/ipv4/ip_forward";
  try {
    if (Deno.readTextFileSync(path).trim() !== "1") Deno.writeTextFileSync(path, "1");
  } catch (err) {
    throw linkFailed("cannot enable IPv4 forwarding", err);
  }
}
