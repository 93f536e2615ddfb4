/**
 * strongSwan settings (pure): what pod and hub share (proposals, the
 * strongswan.conf builder) and the pod's own daemon and connection. The
 * hub's files are rendered in mod/hub/ from the same NetConf, so both sides
 * always agree.
 */

import type { NetConf } from "../config/load.ts";
import { DAEMON_GROUP, DAEMON_USER } from "./daemon.ts";
import type { ViciMessage } from "./vici.ts";

/** The kernel datapath uses XFRM; userspace uses kernel-libipsec's TUN device. */
export type ResolvedDatapath = "kernel" | "userspace";

export const IKE_PROPOSAL = "aes256gcm16-prfsha256-x25519";
export const ESP_PROPOSAL = "aes256gcm16";
/** Names of the pod's IKE_SA and CHILD_SA in its own daemon. */
export const CONNECTION = "hub";
/** Marks charon's own packets (IKE, UDP-encapsulated ESP) so they skip the tunnel's routes. */
export const IKE_FWMARK = "0x42";

/**
 * A pod notices a dead hub (restart, failover, partition) within
 * POD_DPD_DELAY of silence plus its retransmits: 1.5+2.4+3.8+6.1 s (~14 s).
 * Then it starts over, for ever, so it is back ~14 s at most after the hub
 * answers again.
 */
export const POD_DPD_DELAY = "5s";
export const POD_RETRANSMIT = [
  "retransmit_tries = 3",
  "retransmit_timeout = 1.5",
  "retransmit_base = 1.6",
];

/**
 * Only what a PSK client or server needs: most strongSwan CVEs are in
 * EAP/TLS/X.509 code that is never loaded here. kernel-libipsec must come
 * before kernel-netlink, or the SAs go to the kernel's XFRM (no ESP here).
 * extra: plugins only one side loads (the hub's dhcp).
 */
export function pluginList(datapath: ResolvedDatapath, extra: string[] = []): string {
  const kernel = datapath === "userspace" ? "kernel-libipsec kernel-netlink" : "kernel-netlink";
  return ["random nonce openssl kdf socket-default", kernel, "vici", ...extra].join(" ");
}

export interface DaemonFiles {
  viciSocket: string;
  logFile: string;
}

/** Characters a path may have to be written unquoted into strongswan.conf (or dnsmasq's, keepalived's). */
const SAFE_PATH = /^\/[A-Za-z0-9_.,+@=:\/\-]*$/;
/** The kernel's limit on a unix socket path (sun_path), with its terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/** Why path cannot go into a config file (or be a socket), if it cannot. */
export function pathProblem(path: string, socket = false): string | undefined {
  if (!SAFE_PATH.test(path) || path.includes("/../") || path.endsWith("/..")) {
    return "must be an absolute path of letters, digits and _ . , + @ = : / - only";
  }
  if (socket && path.length > MAX_SOCKET_PATH) {
    return `is longer than the ${MAX_SOCKET_PATH} bytes a unix socket path may have`;
  }
  return undefined;
}

export function safePath(path: string, socket = false): string {
  const problem = pathProblem(path, socket);
  if (problem) {
    throw new Error(
      `refusing to write ${JSON.stringify(path)} into a config file: it ${problem}`,
    );
  }
  return path;
}

export interface CharonSettings {
  /** The `load` list (pluginList's). */
  load: string;
  files: DaemonFiles;
  /** Lines in the charon section. */
  settings?: string[];
  /** Lines in charon.plugins. */
  plugins?: string[];
}

function indent(lines: string[] | undefined, depth: string): string {
  return (lines ?? []).map((l) => `${depth}${l}\n`).join("");
}

/** A complete strongswan.conf: the explicit plugin list, its own vici socket and log file. */
export function charonConf(header: string, c: CharonSettings): string {
  return `# ${header}
charon {
  load_modular = no
  load = ${c.load}
${indent(c.settings, "  ")}  plugins {
    vici {
      socket = unix://${safePath(c.files.viciSocket, true)}
    }
    kernel-libipsec {
      allow_peer_ts = yes
    }
    # MD4, DES and such (EAP-MSCHAPv2) are never used: ~200 KiB less per daemon.
    openssl {
      load_legacy = no
    }
${indent(c.plugins, "    ")}  }
  filelog {
    log {
      path = ${safePath(c.files.logFile)}
      time_format = %F %T
      default = 1
      flush_line = yes
    }
  }
}
`;
}

/** strongswan.conf for one pod's daemon. It holds no secret. */
export function podStrongswanConf(
  datapath: ResolvedDatapath,
  ifname: string,
  files: DaemonFiles,
): string {
  return charonConf("Written by the strongswan CNI plugin for one pod attachment.", {
    load: pluginList(datapath),
    files,
    settings: [
      ...(datapath === "kernel" ? [`install_virtual_ip_on = ${ifname}`] : []),
      // Pods only initiate: random local ports let two attachments' daemons share a pod.
      "port = 0",
      "port_nat_t = 0",
      ...POD_RETRANSMIT,
      // Root is dropped once the sockets and the TUN device exist (only CAP_NET_ADMIN stays).
      `user = ${DAEMON_USER}`,
      `group = ${DAEMON_GROUP}`,
    ],
    plugins: [
      "socket-default {",
      `  fwmark = ${IKE_FWMARK}`,
      "}",
      "kernel-netlink {",
      `  fwmark = !${IKE_FWMARK}`,
      "}",
    ],
  });
}

/**
 * The pod's connection, for vici load-conn: ask for a virtual IP, tunnel
 * both subnets, and heal by itself: dead peer detection, and on a dead or
 * closing hub start over (keyingtries 0: for ever), asking for the same
 * address again.
 */
export function podConnection(conf: NetConf, identity: string): ViciMessage {
  return {
    [CONNECTION]: {
      version: "2",
      remote_addrs: [conf.vpn.serverIP],
      vips: ["0.0.0.0"],
      proposals: [IKE_PROPOSAL],
      // The virtual IP moves to the pod's interface; MOBIKE must not take it for a new path.
      mobike: "no",
      dpd_delay: POD_DPD_DELAY,
      keyingtries: "0",
      local: { auth: "psk", id: identity },
      // Every node holds the PSK: the hub must also prove it is the hub.
      remote: { auth: "psk", id: conf.vpn.serverIdentity },
      children: {
        [CONNECTION]: {
          remote_ts: [conf.vpn.virtualSubnet, conf.vpn.hostSubnet],
          esp_proposals: [ESP_PROPOSAL],
          start_action: "none",
          dpd_action: "restart",
          close_action: "restart",
        },
      },
    },
  };
}
