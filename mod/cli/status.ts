/**
 * `strongswan status [--json]`: every attachment on this node, its tunnel as
 * its daemon reports it (one vici round trip each, all at once), and what is
 * wrong; exit 1 when anything is, so it can be a health check.
 * `strongswan status --hub`: the pods a hub holds, and whether it is active.
 */

import { servingAgent } from "../agent/client.ts";
import { daemonPaths, isOurDaemon } from "../ipsec/daemon.ts";
import { childInstalled, listSa } from "../ipsec/tunnel.ts";
import { ViciClient, type ViciMessage } from "../ipsec/vici.ts";
import { HUB_CONNECTION } from "../hub/swanctl.ts";
import { run } from "../exec.ts";
import { listStateDirs, type StateDir } from "../state.ts";
import type { CliOutcome } from "./common.ts";

export interface TunnelInfo {
  state: string;
  /** Seconds since the IKE_SA was established. */
  establishedSeconds?: number;
  virtualIp?: string;
  bytesIn?: number;
  bytesOut?: number;
}

export interface AttachmentStatus {
  network?: string;
  containerId?: string;
  ifname?: string;
  pod?: string;
  identity?: string;
  podAddresses?: string[];
  virtualIp?: string;
  tunnel?: TunnelInfo;
  problems: string[];
}

const num = (v: unknown) => (typeof v === "string" && v !== "" ? Number(v) : undefined);

/** What list-sas says of the pod's IKE_SA (pure). */
export function tunnelInfo(sa: ViciMessage): TunnelInfo {
  const vips = sa["local-vips"];
  const children = Object.values((sa["child-sas"] ?? {}) as Record<string, ViciMessage>);
  const sum = (key: string) => children.reduce((n, c) => n + (num(c[key]) ?? 0), 0);
  return {
    state: String(sa.state ?? "UNKNOWN"),
    establishedSeconds: num(sa.established),
    virtualIp: Array.isArray(vips) ? vips[0] : undefined,
    bytesIn: sum("bytes-in"),
    bytesOut: sum("bytes-out"),
  };
}

async function attachmentStatus({ dir, state }: StateDir): Promise<AttachmentStatus> {
  if (!state) return { problems: [`${dir} has no state record (GC removes it)`] };
  const status: AttachmentStatus = {
    network: state.network,
    containerId: state.containerId,
    ifname: state.ifname,
    ...(state.pod ? { pod: `${state.pod.namespace}/${state.pod.name}` } : {}),
    identity: state.identity,
    podAddresses: state.podAddresses,
    virtualIp: state.virtualIp,
    problems: [],
  };
  if (!state.virtualIp) status.problems.push("ADD has not completed (or was interrupted)");
  if (!state.daemon || !isOurDaemon(state.daemon)) {
    status.problems.push("its strongSwan daemon is not running");
    return status;
  }
  let client: ViciClient | undefined;
  try {
    client = await ViciClient.connect(daemonPaths(dir).viciSocket);
    const sa = await listSa(client);
    if (!sa) {
      status.problems.push("no IKE_SA: the tunnel is down");
      return status;
    }
    status.tunnel = tunnelInfo(sa);
    if (sa.state !== "ESTABLISHED" || !childInstalled(sa)) {
      status.problems.push(`the tunnel is ${String(sa.state).toLowerCase()}, not established`);
    } else if (state.virtualIp && status.tunnel.virtualIp !== state.virtualIp) {
      status.problems.push(
        `its virtual IP is ${status.tunnel.virtualIp}, but the pod's address is ${state.virtualIp}`,
      );
    }
  } catch (err) {
    status.problems.push(`its daemon does not answer: ${(err as Error).message}`);
  } finally {
    client?.close();
  }
  return status;
}

function ago(seconds: number | undefined): string {
  if (seconds === undefined) return "-";
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

export async function nodeStatus(
  json: boolean,
  network?: string,
  stateRoot?: string,
): Promise<CliOutcome> {
  const dirs = listStateDirs(stateRoot)
    .filter((d) => network === undefined || d.state?.network === network);
  const rows = await Promise.all(dirs.map(attachmentStatus));
  const unhealthy = rows.filter((r) => r.problems.length > 0).length;
  const exitCode = unhealthy > 0 ? 1 : 0;
  if (json) return { stdout: `${JSON.stringify(rows, null, 2)}\n`, stderr: "", exitCode };
  const socket = await servingAgent();
  const agent = socket
    ? `node agent: serving at ${socket}`
    : "node agent: none (each CNI call runs in a process of its own)";
  if (rows.length === 0) {
    return { stdout: `no attachments on this node\n${agent}\n`, stderr: "", exitCode };
  }
  const text = table([
    ["NETWORK", "CONTAINER", "IF", "POD", "BRIDGE IP", "VIRTUAL IP", "TUNNEL", "UP", "IN", "OUT"],
    ...rows.map((r) => [
      r.network ?? "?",
      (r.containerId ?? "?").slice(0, 12),
      r.ifname ?? "?",
      r.pod ?? "-",
      r.podAddresses?.[0] ?? "-",
      r.virtualIp ?? "-",
      r.tunnel?.state.toLowerCase() ?? "down",
      ago(r.tunnel?.establishedSeconds),
      String(r.tunnel?.bytesIn ?? "-"),
      String(r.tunnel?.bytesOut ?? "-"),
    ]),
  ]);
  const problems = rows.flatMap((r) =>
    r.problems.map((p) => `${r.containerId ?? "?"}/${r.ifname ?? "?"}: ${p}`)
  );
  const summary = unhealthy
    ? `\n${unhealthy} of ${rows.length} attachment(s) unhealthy:\n${
      problems.map((p) => `  ${p}`).join("\n")
    }`
    : `\nall ${rows.length} attachment(s) healthy`;
  return { stdout: `${text}\n${summary}\n${agent}\n`, stderr: "", exitCode };
}

export interface HubPod {
  identity: string;
  virtualIp?: string;
  node?: string;
  establishedSeconds?: number;
}

/** Whether this host holds serverIP now (the active hub of a pair). */
export async function holdsAddress(address: string): Promise<boolean> {
  const { stdout } = await run(["ip", "-j", "route", "get", address]);
  return (JSON.parse(stdout)[0]?.type ?? "") === "local";
}

export async function hubStatus(
  viciSocket: string,
  serverIP: string | undefined,
  json: boolean,
): Promise<CliOutcome> {
  const client = await ViciClient.connect(viciSocket);
  const pods: HubPod[] = [];
  try {
    await client.request("list-sas", { ike: HUB_CONNECTION }, ["list-sa"], (_n, msg) => {
      for (const sa of Object.values(msg)) {
        if (typeof sa !== "object" || Array.isArray(sa)) continue;
        const vips = sa["remote-vips"];
        pods.push({
          identity: String(sa["remote-id"] ?? ""),
          virtualIp: Array.isArray(vips) ? vips[0] : undefined,
          node: typeof sa["remote-host"] === "string" ? sa["remote-host"] : undefined,
          establishedSeconds: num(sa.established),
        });
      }
    });
  } finally {
    client.close();
  }
  pods.sort((a, b) => a.identity.localeCompare(b.identity));
  const active = serverIP ? await holdsAddress(serverIP) : undefined;
  if (json) {
    return {
      stdout: `${JSON.stringify({ active, serverIP, pods }, null, 2)}\n`,
      stderr: "",
      exitCode: 0,
    };
  }
  const role = active === undefined
    ? ""
    : active
    ? `this hub holds ${serverIP}: active\n`
    : `this hub does not hold ${serverIP}: standby\n`;
  const rows = table([
    ["IDENTITY", "VIRTUAL IP", "NODE", "SINCE"],
    ...pods.map((p) => [p.identity, p.virtualIp ?? "-", p.node ?? "-", ago(p.establishedSeconds)]),
  ]);
  return { stdout: `${role}${rows}\n${pods.length} pod(s)\n`, stderr: "", exitCode: 0 };
}
