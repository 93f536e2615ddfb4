/**
 * A LAN in network namespaces, for the demo, the root tests and the
 * benchmarks: a switch, a hub (strongSwan, configured by `server-config` and
 * started with the commands it prints), optionally a lease server (dnsmasq),
 * nodes, and empty pod namespaces for the plugin to attach. Everything
 * carries the lab's unique id; cleanup() removes every namespace, process and
 * file the lab made, even after a failure.
 */

import { join } from "node:path";
import { inNetns, run, tryRun } from "../mod/exec.ts";
import { hubAddressing } from "../mod/hub/addressing.ts";
import {
  connectVici,
  type DaemonId,
  daemonPaths,
  launchDaemon,
  stopDaemon,
} from "../mod/ipsec/daemon.ts";
import { ViciClient } from "../mod/ipsec/vici.ts";
import { sleep } from "../mod/timer.ts";
import { callPlugin, installLauncher, type PluginOutput, REFERENCE_PLUGINS } from "./plugin.ts";

export const SERVER_IP = "10.9.0.2";
export const HOST_SUBNET = "10.9.0.0/24";
export const VIRTUAL_SUBNET = "10.173.0.0/16";
export const BRIDGE_SUBNET = "172.17.0.0/16";
export const LEASE_SERVER_IP = "10.9.0.5";
/** A Kea pair: the two servers, and the address the hubs relay to (on the primary while it lives). */
export const KEA_SERVERS = ["10.9.0.5", "10.9.0.6"];
export const KEA_LEASE_ADDRESS = "10.9.0.7";
export const LAB_PSK = "dummy1234";
/** An address beyond the LAN (on the hub, which routes for the nodes): masqueraded traffic goes here. */
export const OUTSIDE_ADDRESS = "10.20.0.1";

export interface Pod {
  name: string;
  node: number;
  netnsName: string;
  netns: string;
  containerId: string;
  ifname: string;
  /** CNI_ARGS as a runtime would pass them (K8S_POD_NAMESPACE=...;K8S_POD_NAME=...). */
  cniArgs?: string;
}

/** A config as an object, or as the text a runtime would send (JSONC allowed). */
export type NetworkConfig = Record<string, unknown> | string;

export interface LabOptions {
  nodes: number;
  /** Start the hub (default true). */
  hub?: boolean;
  /** 2: an active/standby hub pair sharing SERVER_IP by VRRP (keepalived); needs leaseServer. */
  hubs?: 1 | 2;
  /**
   * Pods' virtual IPs from a lease server instead of the hub's memory: dnsmasq
   * in its own namespace, or "kea-pair": two Kea servers replicating leases
   * (HA hot-standby), the address the hubs relay to moved by keepalived.
   */
  leaseServer?: boolean | "kea-pair";
  /** The pod network's virtual subnet, for hub and pods (default VIRTUAL_SUBNET). */
  virtualSubnet?: string;
  /** Changes the hub's swanctl.conf as server-config wrote it (a misconfigured or hostile hub). */
  hubSwanctl?: (text: string) => string;
  /** Changes the hub's strongswan.conf likewise (a hub that gives up on silent pods sooner). */
  hubStrongswan?: (text: string) => string;
  /**
   * Put server-config's own virtualSubnet address on the hub's lo (default
   * true); false for a hub configured by hand, whose pool hands it out.
   */
  hubOwnAddress?: boolean;
}

/** One lease of the lease server, as dnsmasq's lease file has it. */
export interface Lease {
  ip: string;
  clientId: string;
}

const nsPath = (name: string) => `/run/netns/${name}`;

/** Kea's memfile CSV: a line per change, the last one per address wins; a deleted lease has lifetime 0. */
function keaLeases(csv: string): Lease[] {
  const last = new Map<string, string[]>();
  for (const line of csv.split("\n").slice(1)) {
    const f = line.split(",");
    if (f.length > 4) last.set(f[0], f);
  }
  return [...last.values()].filter((f) => f[3] !== "0" && f[9] === "0")
    .map((f) => ({ ip: f[0], clientId: f[2] }));
}

/** One hub: its namespace, its files, its switch port and address, its processes. */
interface Hub {
  netns: string;
  dir: string;
  port: string;
  lanAddress: string;
  /** VRRP priority in a pair: the first hub starts as the active one. */
  priority: number;
  daemon?: DaemonId;
}

/** keepalived in the hub's namespace with a private /run (it writes its pid files there). */
const KEEPALIVED_SCRIPT =
  'mount -t tmpfs none /run && exec keepalived -n -l -G --vrrp -f "$1" >>"$2" 2>&1';

export class Lab {
  readonly id = crypto.randomUUID().slice(0, 6);
  readonly network = `lab${this.id}`;
  #namespaces: string[] = [];
  #attached = new Map<string, { pod: Pod; config: NetworkConfig }>();
  #hubs: Hub[] = [];
  /** Daemons the lab runs in the foreground (dnsmasq, Kea, their keepalived), ended at cleanup. */
  #children: Deno.ChildProcess[] = [];
  /** Node agents (`strongswan agent`) by node. */
  #agents = new Map<number, { child: Deno.ChildProcess; stderr: string; read: Promise<void> }>();
  #opts: LabOptions = { nodes: 0 };
  dir = "";
  cniPath: string[] = [];

  private constructor() {}

  /** The (first) hub's namespace. */
  get hubNetns(): string {
    return this.#hubs[0].netns;
  }

  hubNetnsOf(hub: number): string {
    return this.#hub(hub).netns;
  }

  #hub(index: number): Hub {
    const hub = this.#hubs[index - 1];
    if (!hub) throw new Error(`the lab has no hub ${index}`);
    return hub;
  }

  get lanNetns(): string {
    return `swl${this.id}-lan`;
  }

  get leaseNetns(): string {
    return `swl${this.id}-lease`;
  }

  nodeNetns(node: number): string {
    return `swl${this.id}-n${node}`;
  }

  nodeAddress(node: number): string {
    return `10.9.0.${10 + node}`;
  }

  get hubDir(): string {
    return this.#hubs[0].dir;
  }

  hubViciSocket(hub = 1): string {
    return daemonPaths(this.#hub(hub).dir).viciSocket;
  }

  /** What the hub's charon logged so far. */
  hubLog(hub = 1): Promise<string> {
    return Deno.readTextFile(daemonPaths(this.#hub(hub).dir).logFile);
  }

  get leaseFile(): string {
    return join(this.dir, "leases");
  }

  /** The address hubs relay DHCP to. */
  get leaseAddress(): string {
    return this.#opts.leaseServer === "kea-pair" ? KEA_LEASE_ADDRESS : LEASE_SERVER_IP;
  }

  keaNetns(index: number): string {
    return `swl${this.id}-kea${index}`;
  }

  get virtualSubnet(): string {
    return this.#opts.virtualSubnet ?? VIRTUAL_SUBNET;
  }

  static async create(opts: LabOptions): Promise<Lab> {
    const lab = new Lab();
    try {
      await lab.#build(opts);
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
    return lab;
  }

  async #netns(name: string): Promise<void> {
    this.#namespaces.push(name);
    await run(["ip", "netns", "add", name]);
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
  }

  /** Plugs a namespace into the LAN switch: its lan0, the switch's port. */
  async #plug(ns: string, port: string, address: string): Promise<void> {
    await run([
      "ip",
      "link",
      "add",
      "name",
      "lan0",
      "netns",
      ns,
      "type",
      "veth",
      "peer",
      "name",
      port,
      "netns",
      this.lanNetns,
    ]);
    await run(["ip", "-n", this.lanNetns, "link", "set", port, "master", "lan0", "up"]);
    await run(["ip", "-n", ns, "addr", "add", `${address}/24`, "dev", "lan0"]);
    await run(["ip", "-n", ns, "link", "set", "lan0", "up"]);
  }

  async #build(opts: LabOptions): Promise<void> {
    this.#opts = opts;
    this.dir = await Deno.makeTempDir({ prefix: `swlab-${this.id}-` });
    const bin = join(this.dir, "bin");
    await Deno.mkdir(bin);
    await installLauncher(bin);
    this.cniPath = [bin, REFERENCE_PLUGINS];

    await this.#netns(this.lanNetns);
    await run(["ip", "-n", this.lanNetns, "link", "add", "lan0", "type", "bridge"]);
    await run(["ip", "-n", this.lanNetns, "link", "set", "lan0", "up"]);

    const pair = opts.hubs === 2;
    if (pair && !opts.leaseServer) throw new Error("a hub pair needs a lease server");
    this.#hubs = pair
      ? [1, 2].map((i) => ({
        netns: `swl${this.id}-hub${i}`,
        dir: join(this.dir, `hub${i}`),
        port: `hub${i}`,
        lanAddress: `10.9.0.${2 + i}`,
        priority: i === 1 ? 150 : 100,
      }))
      : [{
        netns: `swl${this.id}-hub`,
        dir: join(this.dir, "hub"),
        port: "hub",
        lanAddress: SERVER_IP,
        priority: 0,
      }];
    await Deno.writeTextFile(join(this.dir, "network.json"), JSON.stringify(this.config(1)));
    for (const hub of this.#hubs) {
      await this.#netns(hub.netns);
      await this.#plug(hub.netns, hub.port, hub.lanAddress);
      // The hub is the nodes' router: masqueraded traffic beyond the LAN ends here.
      await run(["ip", "-n", hub.netns, "addr", "add", `${OUTSIDE_ADDRESS}/32`, "dev", "lo"]);
      await this.#writeHubConfig(hub);
      await this.#hubNetworkSetup(hub);
    }
    if (opts.leaseServer === "kea-pair") await this.#startKeaPair();
    else if (opts.leaseServer) await this.#startLeaseServer();
    if (pair) {
      for (const hub of this.#hubs) {
        this.#keepalived(
          hub.netns,
          join(hub.dir, "keepalived.conf"),
          join(hub.dir, "keepalived.log"),
        );
      }
      await this.#waitForActive();
    }

    for (let n = 1; n <= opts.nodes; n++) {
      const node = this.nodeNetns(n);
      await this.#netns(node);
      await this.#plug(node, `n${n}`, this.nodeAddress(n));
      await run(["ip", "-n", node, "route", "add", "default", "via", SERVER_IP]);
    }
    if (opts.hub ?? true) {
      for (let i = 1; i <= this.#hubs.length; i++) await this.startHub(i);
    }
  }

  /** The network config a node's runtime would hand the plugin. */
  config(node: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const { vpn, ipam, ...rest } = overrides;
    return {
      cniVersion: "1.0.0",
      name: this.network,
      type: "strongswan",
      bridge: "docker0",
      isDefaultGateway: true,
      ipMasq: true,
      hairpinMode: true,
      // The plugin's log stays in the lab's directory.
      logFile: join(this.dir, "cni.log"),
      ...rest,
      vpn: {
        serverIP: SERVER_IP,
        virtualSubnet: this.virtualSubnet,
        hostSubnet: HOST_SUBNET,
        PSK: LAB_PSK,
        timeout: 5,
        ...(vpn as object),
      },
      ipam: {
        type: "host-local",
        subnet: BRIDGE_SUBNET,
        // Each node keeps its own leases, as separate machines would.
        dataDir: join(this.dir, `ipam-node${node}`),
        ...(ipam as object),
      },
    };
  }

  /** The hub's files, by the plugin's own `server-config`, as an operator runs it. */
  async #writeHubConfig(hub: Hub): Promise<void> {
    await run([
      join(this.cniPath[0], "strongswan"),
      "server-config",
      join(this.dir, "network.json"),
      "--out",
      hub.dir,
      "--datapath",
      "userspace",
      ...(this.#opts.leaseServer
        ? ["--lease-server", this.leaseAddress, "--lease-file", this.leaseFile]
        : []),
      ...(hub.priority
        ? ["--pair", "--interface", "lan0", "--priority", String(hub.priority)]
        : []),
    ]);
    for (
      const [file, edit] of [
        ["swanctl.conf", this.#opts.hubSwanctl],
        ["strongswan.conf", this.#opts.hubStrongswan],
      ] as const
    ) {
      if (!edit) continue;
      const path = join(hub.dir, file);
      await Deno.writeTextFile(path, edit(await Deno.readTextFile(path)));
    }
  }

  /** What server-config tells the operator to do on the hub before starting it. */
  async #hubNetworkSetup(hub: Hub): Promise<void> {
    const ns = hub.netns;
    const { hubAddress } = hubAddressing({ virtualSubnet: this.virtualSubnet });
    if (this.#opts.hubOwnAddress ?? true) {
      await run(["ip", "-n", ns, "addr", "add", `${hubAddress}/32`, "dev", "lo"]);
    }
    for (const setting of ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0"]) {
      await run(inNetns(nsPath(ns), ["sysctl", "-qw", setting]));
    }
    // In a pair, keepalived owns this route (the active hub only).
    if (this.#opts.leaseServer && !hub.priority) {
      await run([
        "ip",
        "-n",
        ns,
        "route",
        "replace",
        `${this.leaseAddress}/32`,
        "dev",
        "lan0",
        "src",
        hubAddress,
      ]);
    }
  }

  /** dnsmasq on server-config's dnsmasq.conf, in its own namespace, with a route back via the hub. */
  async #startLeaseServer(): Promise<void> {
    const ns = this.leaseNetns;
    await this.#netns(ns);
    await this.#plug(ns, "lease", LEASE_SERVER_IP);
    await run(["ip", "-n", ns, "route", "replace", this.virtualSubnet, "via", SERVER_IP]);
    this.#children.push(new Deno.Command("nsenter", {
      args: [
        `--net=${nsPath(ns)}`,
        "--",
        "dnsmasq",
        "--keep-in-foreground",
        `--log-facility=${join(this.dir, "dnsmasq.log")}`,
        `--conf-file=${join(this.#hubs[0].dir, "dnsmasq.conf")}`,
        `--pid-file=${join(this.dir, "dnsmasq.pid")}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn());
    // Ready once it listens on the DHCP port.
    for (let i = 0; i < 200; i++) {
      const { stdout } = await run(inNetns(nsPath(ns), ["ss", "-Huln", "sport", "= :67"]));
      if (stdout.trim()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("dnsmasq did not start listening on port 67");
  }

  /** keepalived on a keepalived.conf the plugin's CLI wrote, in a namespace. */
  #keepalived(netns: string, conf: string, logFile: string): Deno.ChildProcess {
    const child = new Deno.Command("nsenter", {
      args: [
        `--net=${nsPath(netns)}`,
        "--",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        KEEPALIVED_SCRIPT,
        "keepalived",
        conf,
        logFile,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.push(child);
    return child;
  }

  /**
   * Two Kea servers (HA hot-standby) in their own namespaces, configured by
   * `lease-server-config --kea`, with keepalived moving the address the
   * hubs relay to; ready once the primary holds it and Kea is in hot-standby.
   */
  async #startKeaPair(): Promise<void> {
    for (const [i, self] of KEA_SERVERS.entries()) {
      const ns = this.keaNetns(i);
      await this.#netns(ns);
      await this.#plug(ns, `kea${i}`, self);
      await run(["ip", "-n", ns, "route", "replace", this.virtualSubnet, "via", SERVER_IP]);
      const dir = join(this.dir, `kea${i}`);
      await Deno.mkdir(dir);
      await run([
        join(this.cniPath[0], "strongswan"),
        "lease-server-config",
        join(this.dir, "network.json"),
        "--out",
        dir,
        "--kea",
        "--role",
        i === 0 ? "primary" : "standby",
        "--self",
        self,
        "--peer",
        KEA_SERVERS[1 - i],
        "--address",
        KEA_LEASE_ADDRESS,
        "--interface",
        "lan0",
        "--lease-file",
        join(dir, "leases4.csv"),
        "--kea-log",
        join(dir, "kea.log"),
        "--kea-pid-file",
        join(dir, "kea-dhcp4.kea-dhcp4.pid"),
      ]);
      this.#children.push(
        new Deno.Command("nsenter", {
          args: [`--net=${nsPath(ns)}`, "--", "kea-dhcp4", "-c", join(dir, "kea-dhcp4.conf")],
          env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
      this.#keepalived(ns, join(dir, "keepalived.conf"), join(dir, "keepalived.log"));
    }
    for (let i = 0; i < 300; i++) {
      const log = await Deno.readTextFile(join(this.dir, "kea0", "kea.log")).catch(() => "");
      if ((await this.leaseServerHolder()) === 0 && /to HOT-STANDBY state/.test(log)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the Kea pair did not come up (address on the primary, hot-standby)");
  }

  /** Which Kea server holds the lease address now (-1: none). */
  async leaseServerHolder(): Promise<number> {
    for (const i of [0, 1]) {
      const { stdout } = await run([
        "ip",
        "-n",
        this.keaNetns(i),
        "-o",
        "addr",
        "show",
        "dev",
        "lan0",
      ]);
      if (stdout.includes(` ${KEA_LEASE_ADDRESS}/`)) return i;
    }
    return -1;
  }

  /** Cuts a Kea server off the LAN (or heals it). */
  async partitionLeaseServer(index: number, cut: boolean): Promise<void> {
    await run(["ip", "-n", this.lanNetns, "link", "set", `kea${index}`, cut ? "down" : "up"]);
  }

  async #waitForActive(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await this.activeHub()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("no hub took the floating serverIP");
  }

  /** Which hub holds SERVER_IP now (0: none). */
  async activeHub(): Promise<number> {
    for (const [i, hub] of this.#hubs.entries()) {
      const { stdout } = await run(["ip", "-n", hub.netns, "-o", "addr", "show", "dev", "lan0"]);
      if (stdout.includes(` ${SERVER_IP}/`)) return i + 1;
    }
    return 0;
  }

  /** Starts charon as server-config says (own /run, socket and log) and loads its connection. */
  async startHub(index = 1): Promise<void> {
    const hub = this.#hub(index);
    if (hub.daemon) throw new Error(`hub ${index} is already running`);
    const paths = daemonPaths(hub.dir);
    const started = launchDaemon(nsPath(hub.netns), paths);
    hub.daemon = started.id;
    (await connectVici(paths, started, 5000)).close();
    await run([
      "swanctl",
      "--load-all",
      "--file",
      join(hub.dir, "swanctl.conf"),
      "--uri",
      `unix://${paths.viciSocket}`,
    ]);
  }

  async stopHub(index = 1): Promise<void> {
    const hub = this.#hub(index);
    if (hub.daemon) await stopDaemon(hub.daemon);
    hub.daemon = undefined;
  }

  /** Runs the plugin's operator CLI on a node (or, with 0 or -N, on the first or Nth hub). */
  async cli(
    node: number,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const ns = node <= 0 ? this.hubNetnsOf(-node || 1) : this.nodeNetns(node);
    const out = await new Deno.Command("ip", {
      args: ["netns", "exec", ns, join(this.cniPath[0], "strongswan"), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  }

  /** Kills the hub without a goodbye (no DELETEs): the pods must notice by dead peer detection. */
  async crashHub(index = 1): Promise<void> {
    const hub = this.#hub(index);
    if (hub.daemon) {
      Deno.kill(hub.daemon.pid, "SIGKILL");
      await stopDaemon(hub.daemon);
    }
    hub.daemon = undefined;
    // The kernel releases a killed process's sockets a moment after it is gone; a charon
    // started before that runs without its IKE ports.
    for (let i = 0; i < 500; i++) {
      const { stdout } = await run(
        inNetns(nsPath(hub.netns), ["ss", "-Huln", "( sport = :500 or sport = :4500 )"]),
      );
      if (!stdout.trim()) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // charon refuses to start while its pid file names a process, and a killed one can
    // linger as a zombie here: clear it, as a service manager clears its runtime directory.
    await Deno.remove(join(daemonPaths(hub.dir).runDir, "charon.pid")).catch(() => {});
  }

  /** Cuts a hub off the LAN (or heals it): its switch port goes down, so its link does too. */
  async partitionHub(cut: boolean, index = 1): Promise<void> {
    const hub = this.#hub(index);
    await run(["ip", "-n", this.lanNetns, "link", "set", hub.port, cut ? "down" : "up"]);
  }

  /** Number of IKE_SAs a hub has, in any state (what must be 0 when nothing is left). */
  async hubSaCount(index = 1): Promise<number> {
    return (await this.#listSas(index)).length;
  }

  /**
   * The pods a hub holds: its established IKE_SAs that have a virtual IP
   * (a pod reconnecting shows up half-open first: no identity, no address).
   */
  async hubSas(index = 1): Promise<{ identity: string; vip: string }[]> {
    return (await this.#listSas(index))
      .filter((sa) => sa.state === "ESTABLISHED" && sa.vip !== "")
      .map(({ identity, vip }) => ({ identity, vip }));
  }

  async #listSas(index: number): Promise<{ identity: string; vip: string; state: string }[]> {
    const client = await ViciClient.connect(this.hubViciSocket(index));
    try {
      const sas: { identity: string; vip: string; state: string }[] = [];
      await client.request("list-sas", {}, ["list-sa"], (_n, msg) => {
        for (const sa of Object.values(msg)) {
          if (typeof sa !== "object" || Array.isArray(sa)) continue;
          const vips = sa["remote-vips"];
          sas.push({
            identity: String(sa["remote-id"] ?? ""),
            vip: Array.isArray(vips) ? vips[0] : "",
            state: String(sa.state ?? ""),
          });
        }
      });
      return sas;
    } finally {
      client.close();
    }
  }

  /** The lease server's current leases (of a Kea pair: the one holding the lease address). */
  async leases(): Promise<Lease[]> {
    if (this.#opts.leaseServer === "kea-pair") {
      const holder = Math.max(0, await this.leaseServerHolder());
      return keaLeases(await Deno.readTextFile(join(this.dir, `kea${holder}`, "leases4.csv")));
    }
    try {
      return (await Deno.readTextFile(this.leaseFile)).split("\n").filter((l) => l.trim())
        .map((l) => {
          const [, , ip, , clientId] = l.split(" ");
          return { ip, clientId };
        });
    } catch {
      return [];
    }
  }

  /**
   * Starts the node agent on a node, as an operator would (`strongswan
   * agent`, the plugin's file on CNI_PATH); ready once it serves.
   */
  async startAgent(node = 1): Promise<void> {
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", this.nodeNetns(node), join(this.cniPath[0], "strongswan"), "agent"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const agent = { child, stderr: "", read: Promise.resolve() };
    agent.read = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        agent.stderr += text;
      }
    })().catch(() => {});
    this.#agents.set(node, agent);
    for (let i = 0; i < 200 && !agent.stderr.includes("serving"); i++) {
      if (await Promise.race([child.status.then(() => true), sleep(50).then(() => false)])) break;
    }
    if (agent.stderr.includes("serving")) return;
    await this.stopAgent(node);
    throw new Error(`the agent on node ${node} did not start: ${agent.stderr}`);
  }

  /** What a node's agent wrote to stderr so far. */
  agentLog(node = 1): string {
    return this.#agents.get(node)?.stderr ?? "";
  }

  /** The node's last agent, running or ended (its pid). */
  agent(node = 1): Deno.ChildProcess | undefined {
    return this.#agents.get(node)?.child;
  }

  /** Ends a node's agent as an operator does (SIGTERM: it finishes calls under way first). */
  async stopAgent(node = 1, signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    const agent = this.#agents.get(node);
    if (!agent) throw new Error(`no agent runs on node ${node}`);
    try {
      agent.child.kill(signal);
    } catch {
      // Already gone.
    }
    const status = await agent.child.status;
    await agent.read;
    return status;
  }

  /** Puts an executable script on the lab's CNI_PATH (a fake IPAM plugin, say). */
  async installScript(name: string, script: string): Promise<void> {
    await Deno.writeTextFile(join(this.cniPath[0], name), script, { mode: 0o755 });
  }

  async pod(node: number, name: string, ifname = "eth0"): Promise<Pod> {
    const netnsName = `swl${this.id}-p-${name}`;
    await this.#netns(netnsName);
    return {
      name,
      node,
      netnsName,
      netns: nsPath(netnsName),
      containerId: `lab${this.id}${name}${crypto.randomUUID().slice(0, 8)}`,
      ifname,
    };
  }

  /** Deletes a pod's namespace (as a runtime does when the pod ends). */
  async removePodNetns(pod: Pod): Promise<void> {
    await run(["ip", "netns", "del", pod.netnsName]);
    this.#namespaces = this.#namespaces.filter((n) => n !== pod.netnsName);
  }

  /**
   * Runs the plugin for a pod on its node; killAfterMs SIGKILLs it midway;
   * type names another file on CNI_PATH to exec (a wrapper of the plugin).
   */
  exec(
    pod: Pod,
    command: "ADD" | "DEL" | "CHECK",
    config: NetworkConfig,
    opts: { killAfterMs?: number; type?: string } = {},
  ): Promise<PluginOutput> {
    const key = `${pod.containerId}/${pod.ifname}`;
    if (command === "ADD") this.#attached.set(key, { pod, config });
    return callPlugin({
      command,
      containerId: pod.containerId,
      netns: pod.netns,
      ifname: pod.ifname,
      ...(pod.cniArgs ? { cniArgs: pod.cniArgs } : {}),
      path: this.cniPath,
      config,
      nodeNetns: this.nodeNetns(pod.node),
      ...opts,
    }).then((out) => {
      if (command === "DEL" && out.code === 0) this.#attached.delete(key);
      return out;
    });
  }

  /** GC on a node, as a runtime that still knows only the pods in keep. */
  gc(keep: Pod[], node = 1): Promise<PluginOutput> {
    return callPlugin({
      command: "GC",
      path: this.cniPath,
      nodeNetns: this.nodeNetns(node),
      config: {
        ...this.config(node),
        cniVersion: "1.1.0",
        "cni.dev/valid-attachments": keep.map((p) => ({
          containerID: p.containerId,
          ifname: p.ifname,
        })),
      },
    });
  }

  add(pod: Pod, config: NetworkConfig = this.config(pod.node)): Promise<PluginOutput> {
    return this.exec(pod, "ADD", config);
  }

  del(pod: Pod, config: NetworkConfig = this.config(pod.node)): Promise<PluginOutput> {
    return this.exec(pod, "DEL", config);
  }

  /**
   * Whether `from` gets an answer from `to`. count > 1 lets path-MTU discovery
   * work: the first oversized packet may be answered with "frag needed".
   */
  async ping(fromNetns: string, to: string, size = 56, count = 1): Promise<boolean> {
    return await tryRun([
      "ip",
      "netns",
      "exec",
      fromNetns,
      "ping",
      "-c",
      String(count),
      "-i",
      "0.2",
      "-W",
      "2",
      "-s",
      String(size),
      to,
    ]);
  }

  /**
   * Pings `to` from a namespace, one probe every ~0.2 s (each waits up to 2 s)
   * until stopped; stop() says how many were answered. Single probes, since
   * ping gives up by itself once the route is refused.
   */
  startPing(
    fromNetns: string,
    to: string,
  ): { stop(): Promise<{ sent: number; received: number }> } {
    let running = true;
    const counts = { sent: 0, received: 0 };
    const loop = (async () => {
      while (running) {
        counts.sent++;
        if (await this.ping(fromNetns, to)) counts.received++;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return counts;
      },
    };
  }

  /** Removes everything the lab made: attachments (by DEL), daemons, namespaces, files. */
  async cleanup(): Promise<void> {
    for (const { pod, config } of this.#attached.values()) {
      await this.exec(pod, "DEL", config).catch(() => {});
    }
    for (let i = 1; i <= this.#hubs.length; i++) await this.stopHub(i).catch(() => {});
    for (const node of this.#agents.keys()) await this.stopAgent(node);
    this.#agents.clear();
    for (const child of this.#children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
    }
    this.#children = [];
    for (const ns of this.#namespaces.reverse()) await tryRun(["ip", "netns", "del", ns]);
    this.#namespaces = [];
    if (this.dir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
