/**
 * A LAN in network namespaces, for the demo, the root tests and the
 * benchmarks: a hub (strongSwan server, configured by `server-config`), nodes
 * on a LAN bridge inside the hub's namespace, and empty pod namespaces for the
 * plugin to attach. Everything carries the lab's unique id; cleanup() removes
 * every namespace, process and file the lab made, even after a failure.
 */

import { join } from "node:path";
import { inNetns, run, tryRun } from "../mod/exec.ts";
import { hubAddressing } from "../mod/ipsec/config.ts";
import {
  connectVici,
  type DaemonId,
  daemonPaths,
  launchDaemon,
  stopDaemon,
} from "../mod/ipsec/daemon.ts";
import { ViciClient } from "../mod/ipsec/vici.ts";
import { callPlugin, installLauncher, type PluginOutput, REFERENCE_PLUGINS } from "./plugin.ts";

export const SERVER_IP = "10.9.0.2";
export const HOST_SUBNET = "10.9.0.0/24";
export const VIRTUAL_SUBNET = "10.173.0.0/16";
export const BRIDGE_SUBNET = "172.17.0.0/16";
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
}

/** A config as an object, or as the text a runtime would send (JSONC allowed). */
export type NetworkConfig = Record<string, unknown> | string;

export interface LabOptions {
  nodes: number;
  /** Start the hub (default true). */
  hub?: boolean;
  /** The pod network's virtual subnet, for hub and pods (default VIRTUAL_SUBNET). */
  virtualSubnet?: string;
  /** Changes the hub's swanctl.conf as server-config wrote it (a misconfigured or hostile hub). */
  hubSwanctl?: (text: string) => string;
}

const nsPath = (name: string) => `/run/netns/${name}`;

export class Lab {
  readonly id = crypto.randomUUID().slice(0, 6);
  readonly network = `lab${this.id}`;
  #namespaces: string[] = [];
  #attached = new Map<string, { pod: Pod; config: NetworkConfig }>();
  #hub?: DaemonId;
  #virtualSubnet = VIRTUAL_SUBNET;
  #hubSwanctl: (text: string) => string = (text) => text;
  dir = "";
  cniPath: string[] = [];

  private constructor() {}

  get hubNetns(): string {
    return `swl${this.id}-hub`;
  }

  nodeNetns(node: number): string {
    return `swl${this.id}-n${node}`;
  }

  nodeAddress(node: number): string {
    return `10.9.0.${10 + node}`;
  }

  get hubViciSocket(): string {
    return daemonPaths(join(this.dir, "hub")).viciSocket;
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

  async #build(opts: LabOptions): Promise<void> {
    this.#virtualSubnet = opts.virtualSubnet ?? VIRTUAL_SUBNET;
    if (opts.hubSwanctl) this.#hubSwanctl = opts.hubSwanctl;
    this.dir = await Deno.makeTempDir({ prefix: `swlab-${this.id}-` });
    const bin = join(this.dir, "bin");
    await Deno.mkdir(bin);
    await installLauncher(bin);
    this.cniPath = [bin, REFERENCE_PLUGINS];

    const hub = this.hubNetns;
    await this.#netns(hub);
    await run(["ip", "-n", hub, "link", "add", "lan0", "type", "bridge"]);
    await run(["ip", "-n", hub, "addr", "add", `${SERVER_IP}/24`, "dev", "lan0"]);
    await run(["ip", "-n", hub, "link", "set", "lan0", "up"]);
    // What server-config tells the operator to do on the hub.
    for (const setting of ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0"]) {
      await run(inNetns(nsPath(hub), ["sysctl", "-qw", setting]));
    }
    await run(["ip", "-n", hub, "addr", "add", `${OUTSIDE_ADDRESS}/32`, "dev", "lo"]);
    for (let n = 1; n <= opts.nodes; n++) {
      const node = this.nodeNetns(n);
      await this.#netns(node);
      await run([
        "ip",
        "link",
        "add",
        "name",
        "lan0",
        "netns",
        node,
        "type",
        "veth",
        "peer",
        "name",
        `n${n}`,
        "netns",
        hub,
      ]);
      await run(["ip", "-n", hub, "link", "set", `n${n}`, "master", "lan0", "up"]);
      await run(["ip", "-n", node, "addr", "add", `${this.nodeAddress(n)}/24`, "dev", "lan0"]);
      await run(["ip", "-n", node, "link", "set", "lan0", "up"]);
      await run(["ip", "-n", node, "route", "add", "default", "via", SERVER_IP]);
    }
    if (opts.hub ?? true) await this.startHub();
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
      ...rest,
      vpn: {
        serverIP: SERVER_IP,
        virtualSubnet: this.#virtualSubnet,
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

  /** Renders the hub's config with the plugin's own server-config, then runs it. */
  async startHub(): Promise<void> {
    const hubDir = join(this.dir, "hub");
    const confFile = join(this.dir, "network.json");
    await Deno.writeTextFile(confFile, JSON.stringify(this.config(1)));
    await run([
      join(this.cniPath[0], "strongswan"),
      "server-config",
      confFile,
      "--out",
      hubDir,
      "--vici-socket",
      this.hubViciSocket,
      "--log",
      daemonPaths(hubDir).logFile,
    ]);
    // What server-config tells the operator to do on the hub.
    const { hubAddress } = hubAddressing(this.#virtualSubnet);
    await tryRun(["ip", "-n", this.hubNetns, "addr", "add", `${hubAddress}/32`, "dev", "lo"]);
    // server-config wrote the settings; the hub runs them as the pods' daemons run theirs.
    const paths = daemonPaths(hubDir);
    const hub = await launchDaemon(nsPath(this.hubNetns), paths);
    this.#hub = hub.id;
    (await connectVici(paths, hub, 5000)).close();
    const swanctl = join(hubDir, "swanctl.conf");
    await Deno.writeTextFile(swanctl, this.#hubSwanctl(await Deno.readTextFile(swanctl)));
    await run([
      "swanctl",
      "--load-all",
      "--file",
      join(hubDir, "swanctl.conf"),
      "--uri",
      `unix://${this.hubViciSocket}`,
    ]);
  }

  async stopHub(): Promise<void> {
    if (this.#hub) await stopDaemon(this.#hub);
    this.#hub = undefined;
  }

  /** Number of IKE_SAs the hub has. */
  async hubSaCount(): Promise<number> {
    const client = await ViciClient.connect(this.hubViciSocket);
    try {
      let count = 0;
      await client.request(
        "list-sas",
        {},
        ["list-sa"],
        (_n, msg) => count += Object.keys(msg).length,
      );
      return count;
    } finally {
      client.close();
    }
  }

  /** Puts an executable script on the lab's CNI_PATH (a fake IPAM plugin, say). */
  async installScript(name: string, script: string): Promise<void> {
    await Deno.writeTextFile(join(this.cniPath[0], name), script, { mode: 0o755 });
  }

  async pod(node: number, name: string, ifname = "eth0"): Promise<Pod> {
    const netnsName = `swl${this.id}-${name}`;
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

  /** Runs the plugin for a pod on its node; killAfterMs SIGKILLs it midway. */
  exec(
    pod: Pod,
    command: "ADD" | "DEL" | "CHECK",
    config: NetworkConfig,
    killAfterMs?: number,
  ): Promise<PluginOutput> {
    const key = `${pod.containerId}/${pod.ifname}`;
    if (command === "ADD") this.#attached.set(key, { pod, config });
    return callPlugin({
      command,
      containerId: pod.containerId,
      netns: pod.netns,
      ifname: pod.ifname,
      path: this.cniPath,
      config,
      nodeNetns: this.nodeNetns(pod.node),
      killAfterMs,
    }).then((out) => {
      if (command === "DEL" && out.code === 0) this.#attached.delete(key);
      return out;
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

  /** Removes everything the lab made: attachments (by DEL), the hub, namespaces, files. */
  async cleanup(): Promise<void> {
    for (const { pod, config } of this.#attached.values()) {
      await this.exec(pod, "DEL", config).catch(() => {});
    }
    await this.stopHub().catch(() => {});
    for (const ns of this.#namespaces.reverse()) await tryRun(["ip", "netns", "del", ns]);
    this.#namespaces = [];
    if (this.dir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
