/**
 * `server-config FILE --out DIR`: the hub's files, rendered from the same
 * config as the pods', and what is left to do, as commands. The hub runs as
 * its own charon with its own /run, socket and log in DIR, so it is safe
 * beside a strongSwan already running (which keeps UDP 500/4500, though).
 */

import type { NetConf } from "../config/load.ts";
import { readPsk } from "../config/psk.ts";
import { type Datapath, DATAPATHS } from "../config/schema.ts";
import { interfaceNameProblem } from "../cni/env.ts";
import { ensureDirectory, parentDir, writeFileAtomic } from "../fs.ts";
import {
  hubStrongswanDropIn,
  hubSysctlConf,
  hubSystemdDropIn,
  keepalivedMainConf,
  SERVICE_FILES,
} from "../hub/service.ts";
import { daemonPaths, privateRunArgv } from "../ipsec/daemon.ts";
import { resolveDatapath } from "../ipsec/datapath.ts";
import { hubAddressing } from "../hub/addressing.ts";
import { DEFAULT_LEASE_FILE, dnsmasqConf } from "../hub/dnsmasq.ts";
import type { HubSettings } from "../hub/settings.ts";
import { keepalivedConf, pairProblem, type PairSettings } from "../hub/keepalived.ts";

const DEFAULT_ROUTER_ID = 51;
const DEFAULT_PRIORITY = 100;
import { hubStrongswanConf } from "../hub/strongswan.ts";
import { hubSwanctlConf } from "../hub/swanctl.ts";
import { addressOption, type Options, pathOption, UsageError } from "./common.ts";
import { shellLine } from "../exec.ts";

const PAIR_OPTIONS = ["router-id", "priority", "peer", "self"];

/** The pair options, if this hub is one of a pair. */
function pairSettings(values: Options, leaseServer: string | undefined): PairSettings | undefined {
  if (!values.pair) {
    const stray = PAIR_OPTIONS.find((o) => values[o] !== undefined);
    if (stray) throw new UsageError(`--${stray} belongs to a hub pair: give --pair too`);
    return undefined;
  }
  if (values.interface === undefined) {
    throw new UsageError("a hub pair needs --interface: the LAN interface that carries serverIP");
  }
  if (!leaseServer) {
    throw new UsageError(
      "a hub pair needs --lease-server: each hub's in-memory pool would hand out the other's addresses",
    );
  }
  const number = (name: string, fallback: number) =>
    values[name] === undefined ? fallback : Number(values[name]);
  const pair: PairSettings = {
    interface: values.interface as string,
    routerId: number("router-id", DEFAULT_ROUTER_ID),
    priority: number("priority", DEFAULT_PRIORITY),
    ...(values.peer !== undefined ? { peer: addressOption(values, "peer")! } : {}),
    ...(values.self !== undefined ? { self: addressOption(values, "self")! } : {}),
  };
  const problem = pairProblem(pair);
  if (problem) throw new UsageError(problem);
  return pair;
}

export async function hubSettings(conf: NetConf, values: Options): Promise<HubSettings> {
  const wanted = (values.datapath as string | undefined) ?? conf.vpn.datapath;
  if (!(DATAPATHS as readonly string[]).includes(wanted)) {
    throw new UsageError(`--datapath must be one of ${DATAPATHS.join(", ")}`);
  }
  const leaseServer = addressOption(values, "lease-server");
  const pair = pairSettings(values, leaseServer);
  const iface = values.interface as string | undefined;
  const ifProblem = iface === undefined ? undefined : interfaceNameProblem(iface);
  if (ifProblem) throw new UsageError(`--interface ${ifProblem}`);
  return {
    datapath: await resolveDatapath(wanted as Datapath),
    ...(leaseServer ? { leaseServer } : {}),
    ...(pair ? { pair } : {}),
    ...(iface ? { interface: iface } : {}),
  };
}

/** The hub's network setup, as commands: its own address, forwarding, and the route to the lease server. */
export function hubNetworkCommands(conf: NetConf, hub: HubSettings): string[] {
  const { hubAddress } = hubAddressing(conf.vpn);
  return [
    `ip addr add ${hubAddress}/32 dev lo      # kept out of the pool; kernel-libipsec needs it`,
    "sysctl -w net.ipv4.ip_forward=1",
    "sysctl -w net.ipv4.conf.all.send_redirects=0   # pod-to-pod traffic leaves by the way it came",
    // A pair's route to the lease server is keepalived's: only the active hub has it.
    ...(hub.leaseServer && !hub.pair
      ? [
        `ip route replace ${hub.leaseServer}/32 dev ${
          hub.interface ?? "LAN_INTERFACE"
        } src ${hubAddress}   # the DHCP relay's source must be ${hubAddress}; add "via GATEWAY" if the lease server is not on the LAN`,
      ]
      : []),
  ];
}

/** What the lease server needs: dnsmasq on the written settings, and a way back to the hub. */
export function leaseServerCommands(conf: NetConf, dnsmasqFile: string): string[] {
  return [
    `ip route replace ${conf.vpn.virtualSubnet} via ${conf.vpn.serverIP}   # replies go to the hub's ${
      hubAddressing(conf.vpn).hubAddress
    }`,
    `dnsmasq --conf-file=${dnsmasqFile}   # Debian: dnsmasq-base; or copy it to /etc/dnsmasq.d/`,
  ];
}

export async function serverConfig(conf: NetConf, values: Options): Promise<string> {
  if (values.install) return await installHub(conf, values);
  if (!values.out) throw new UsageError("server-config needs --out DIR or --install");
  const out = pathOption(values, "out", "");
  const paths = daemonPaths(out);
  const files = {
    viciSocket: pathOption(values, "vici-socket", paths.viciSocket, true),
    logFile: pathOption(values, "log", paths.logFile),
  };
  const hub = await hubSettings(conf, values);
  const psk = await readPsk(conf.vpn);
  await ensureDirectory(out, 0o700);
  const written = [`${out}/strongswan.conf`, `${out}/swanctl.conf`];
  await writeFileAtomic(`${out}/strongswan.conf`, hubStrongswanConf(hub, files), 0o644);
  await writeFileAtomic(`${out}/swanctl.conf`, hubSwanctlConf(conf, psk, hub), 0o600);
  if (hub.pair) {
    written.push(`${out}/keepalived.conf`);
    await writeFileAtomic(
      `${out}/keepalived.conf`,
      keepalivedConf(conf, hub.pair, hub.leaseServer!),
      0o644,
    );
  }
  if (hub.leaseServer) {
    written.push(`${out}/dnsmasq.conf`);
    const leaseFile = pathOption(values, "lease-file", DEFAULT_LEASE_FILE);
    await writeFileAtomic(`${out}/dnsmasq.conf`, dnsmasqConf(conf, leaseFile), 0o644);
  }
  const pool = hub.leaseServer
    ? `addresses from lease server ${hub.leaseServer}, kept across hub restarts`
    : "addresses from an in-memory pool: a hub restart forgets them (use --lease-server)";
  const start = [
    ...(hub.pair
      ? [
        `keepalived --vrrp -f ${out}/keepalived.conf   # Debian: keepalived; moves ${conf.vpn.serverIP}`,
      ]
      : []),
    `mkdir -p ${paths.runDir}`,
    `STRONGSWAN_CONF=${paths.confFile} ${shellLine(privateRunArgv(paths))} &`,
    `swanctl --load-all --file ${out}/swanctl.conf --uri unix://${files.viciSocket}`,
  ];
  const lines = [
    `wrote ${written.join(", ")} (datapath ${hub.datapath}; ${pool})`,
    "On the hub, as root:",
    ...[...hubNetworkCommands(conf, hub), ...start].map((l) => `  ${l}`),
  ];
  if (hub.leaseServer) {
    lines.push(
      `On the lease server (${hub.leaseServer}), as root:`,
      ...leaseServerCommands(conf, `${out}/dnsmasq.conf`).map((l) => `  ${l}`),
    );
  }
  return `${lines.join("\n")}\n`;
}

/** A file under --root (/ by default). */
export function underRoot(root: string, relative: string): string {
  return `${root.replace(/\/+$/, "")}/${relative}`;
}

export async function writeAll(files: [string, string, number][]): Promise<string[]> {
  const said: string[] = [];
  for (const [path, text, mode] of files) {
    await ensureDirectory(parentDir(path), 0o755);
    const outcome = await writeFileAtomic(path, text, mode);
    said.push(`${path}: ${outcome === "unchanged" ? "already up to date" : outcome}`);
  }
  return said;
}

/**
 * `server-config FILE --install [--root DIR]`: the hub as Debian's
 * strongSwan service (and keepalived, in a pair), files written where those
 * services read them, the PSK's only in a 0600 file. Prints what is left.
 */
export async function installHub(conf: NetConf, values: Options): Promise<string> {
  const root = pathOption(values, "root", "/");
  const hub = await hubSettings(conf, values);
  if (hub.leaseServer && !hub.pair && !hub.interface) {
    throw new UsageError(
      "--install with --lease-server needs --interface: the route to the lease server is set on every start",
    );
  }
  const psk = await readPsk(conf.vpn);
  const at = (relative: string) => underRoot(root, relative);
  const files: [string, string, number][] = [
    [at(SERVICE_FILES.strongswan), hubStrongswanDropIn(conf, hub), 0o644],
    [at(SERVICE_FILES.swanctl), hubSwanctlConf(conf, psk, hub), 0o600],
    [at(SERVICE_FILES.sysctl), hubSysctlConf(conf), 0o644],
    [at(SERVICE_FILES.systemd), hubSystemdDropIn(conf, hub), 0o644],
  ];
  const notes: string[] = [];
  if (hub.pair) {
    files.push([
      at(SERVICE_FILES.keepalived),
      keepalivedConf(conf, hub.pair, hub.leaseServer!),
      0o644,
    ]);
    const main = at(SERVICE_FILES.keepalivedMain);
    const existing = await Deno.readTextFile(main).catch(() => undefined);
    if (existing === undefined) files.push([main, keepalivedMainConf(), 0o644]);
    else if (!existing.includes(`/${SERVICE_FILES.keepalived}`)) {
      notes.push(`add "include /${SERVICE_FILES.keepalived}" to ${main}`);
    }
  }
  const said = await writeAll(files);
  const services = hub.pair ? "strongswan keepalived" : "strongswan";
  const lines = [
    ...said,
    "Then, as root:",
    ...notes.map((n) => `  ${n}`),
    "  sysctl --system",
    `  systemctl daemon-reload && systemctl restart ${services}   # Debian: charon-systemd${
      hub.pair ? ", keepalived" : ""
    }`,
  ];
  if (hub.leaseServer) {
    lines.push(
      `On the lease server (${hub.leaseServer}), as root:`,
      "  strongswan lease-server-config FILE --install   # dnsmasq; or --kea for a Kea pair",
    );
  }
  return `${lines.join("\n")}\n`;
}
