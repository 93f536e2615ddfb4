/**
 * strongSwan settings for a pod's daemon and for the hub (pure). Both sides
 * are rendered from the same NetConf so that they always agree.
 */

import type { NetConf } from "../config/load.ts";
import type { Secret } from "../config/secret.ts";
import { broadcastOf, formatIPv4, networkOf, parseCidr } from "../net/cidr.ts";
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
/** The hub's dead peer detection: how soon the lease of a vanished pod is reclaimed. */
export const HUB_DPD_DELAY = "30s";

/**
 * Only what a PSK client or server needs: most strongSwan CVEs are in
 * EAP/TLS/X.509 code that is never loaded here. kernel-libipsec must come
 * before kernel-netlink, or the SAs go to the kernel's XFRM (no ESP here).
 */
export function pluginList(datapath: ResolvedDatapath): string {
  const kernel = datapath === "userspace" ? "kernel-libipsec kernel-netlink" : "kernel-netlink";
  return `random nonce openssl kdf socket-default ${kernel} vici`;
}

export interface DaemonFiles {
  viciSocket: string;
  logFile: string;
}

/** Characters a path may have to be written into strongswan.conf unquoted. */
const SAFE_PATH = /^\/[A-Za-z0-9_.,+@=:\/\-]*$/;
/** The kernel's limit on a unix socket path (sun_path), with its terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/** Why path cannot go into a strongswan.conf (or a socket), if it cannot. */
export function pathProblem(path: string, socket = false): string | undefined {
  if (!SAFE_PATH.test(path) || path.includes("/../") || path.endsWith("/..")) {
    return "must be an absolute path of letters, digits and _ . , + @ = : / - only";
  }
  if (socket && path.length > MAX_SOCKET_PATH) {
    return `is longer than the ${MAX_SOCKET_PATH} bytes a unix socket path may have`;
  }
  return undefined;
}

function safePath(path: string, socket = false): string {
  const problem = pathProblem(path, socket);
  if (problem) {
    throw new Error(
      `refusing to write ${JSON.stringify(path)} into strongswan.conf: it ${problem}`,
    );
  }
  return path;
}

/** A strongswan.conf: the explicit plugin list, its own vici socket and log file. */
function charonConf(
  header: string,
  datapath: ResolvedDatapath,
  files: DaemonFiles,
  extra: { settings?: string[]; plugins?: string[] } = {},
): string {
  const indent = (lines: string[] | undefined, depth: string) =>
    (lines ?? []).map((l) => `${depth}${l}\n`).join("");
  return `# ${header}
charon {
  load_modular = no
  load = ${pluginList(datapath)}
${indent(extra.settings, "  ")}  plugins {
    vici {
      socket = unix://${safePath(files.viciSocket, true)}
    }
    kernel-libipsec {
      allow_peer_ts = yes
    }
${indent(extra.plugins, "    ")}  }
  filelog {
    log {
      path = ${safePath(files.logFile)}
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
  return charonConf(
    "Written by the strongswan CNI plugin for one pod attachment.",
    datapath,
    files,
    {
      settings: [
        ...(datapath === "kernel" ? [`install_virtual_ip_on = ${ifname}`] : []),
        // Pods only initiate: random local ports let two attachments' daemons share a pod.
        "port = 0",
        "port_nat_t = 0",
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
    },
  );
}

/** The pod's connection, for vici load-conn: ask for a virtual IP, tunnel both subnets. */
export function podConnection(conf: NetConf, identity: string): ViciMessage {
  return {
    [CONNECTION]: {
      version: "2",
      remote_addrs: [conf.vpn.serverIP],
      vips: ["0.0.0.0"],
      proposals: [IKE_PROPOSAL],
      // The virtual IP moves to the pod's interface; MOBIKE must not take it for a new path.
      mobike: "no",
      local: { auth: "psk", id: identity },
      // Every node holds the PSK: the hub must also prove it is the hub.
      remote: { auth: "psk", id: conf.vpn.serverIdentity },
      children: {
        [CONNECTION]: {
          remote_ts: [conf.vpn.virtualSubnet, conf.vpn.hostSubnet],
          esp_proposals: [ESP_PROPOSAL],
          start_action: "none",
        },
      },
    },
  };
}

/** The hub keeps the subnet's first address for itself (kernel-libipsec needs one inside its TS). */
export function hubAddressing(virtualSubnet: string): { hubAddress: string; pool: string } {
  const c = parseCidr(virtualSubnet)!;
  const first = networkOf(c) + 1;
  const last = broadcastOf(c) - 1;
  return { hubAddress: formatIPv4(first), pool: `${formatIPv4(first + 1)}-${formatIPv4(last)}` };
}

function hex(secret: Secret): string {
  return "0x" +
    Array.from(new TextEncoder().encode(secret.reveal()), (b) => b.toString(16).padStart(2, "0"))
      .join("");
}

/** The hub's swanctl.conf. It holds the PSK (hex, so no quoting rules apply): keep it 0600. */
export function hubSwanctlConf(conf: NetConf, psk: Secret): string {
  const { pool } = hubAddressing(conf.vpn.virtualSubnet);
  return `# Hub for CNI network "${conf.name}", written by \`strongswan server-config\`.
connections {
  pods {
    version = 2
    proposals = ${IKE_PROPOSAL}
    pools = pods
    # One SA per pod identity: a pod that comes back replaces its old SA and keeps its address.
    unique = replace
    # Reclaims the address of a pod that vanished without saying goodbye.
    dpd_delay = ${HUB_DPD_DELAY}
    local {
      auth = psk
      id = ${conf.vpn.serverIdentity}
    }
    remote {
      auth = psk
    }
    children {
      pods {
        local_ts = ${conf.vpn.virtualSubnet},${conf.vpn.hostSubnet}
        esp_proposals = ${ESP_PROPOSAL}
        dpd_action = clear
      }
    }
  }
}
pools {
  pods {
    addrs = ${pool}
  }
}
secrets {
  ike-pods {
    secret = ${hex(psk)}
  }
}
`;
}

/** The hub's strongswan.conf. */
export function hubStrongswanConf(datapath: ResolvedDatapath, files: DaemonFiles): string {
  return charonConf("Hub settings, written by `strongswan server-config`.", datapath, files, {
    // A pod that stops answering DPD is given up after 2+3.6+6.5+11.7 s (~24 s) of
    // retransmits instead of the default ~165 s, so its address returns to the pool within
    // a minute of its vanishing.
    settings: ["retransmit_tries = 3", "retransmit_timeout = 2.0", "retransmit_base = 1.8"],
  });
}
