/**
 * `lease-server-config`: the lease server's side, on its own host. dnsmasq
 * (one server: its settings, or its drop-in with --install), or one server
 * of a Kea pair (--kea: Kea's settings with the HA hook, and keepalived for
 * the address the hubs relay to).
 */

import type { NetConf } from "../config/load.ts";
import { DEFAULT_LEASE_FILE, dnsmasqConf } from "../hub/dnsmasq.ts";
import { DEFAULT_KEA_LEASE_FILE, keaConf, type KeaServer } from "../hub/kea.ts";
import { leaseKeepalivedConf, pairProblem, type PairSettings } from "../hub/keepalived.ts";
import { SERVICE_FILES } from "../hub/service.ts";
import { addressOption, type Options, pathOption, UsageError } from "./common.ts";
import { leaseServerCommands, underRoot, writeAll } from "./server_config.ts";

const KEA_ROUTER_ID = 52;
/** Where Debian's kea-dhcp4-server keeps its pid. */
const DEFAULT_KEA_PID_FILE = "/run/kea/kea-dhcp4.kea-dhcp4.pid";

function keaServer(values: Options): { server: KeaServer; pair: PairSettings; address: string } {
  const role = values.role as string | undefined;
  if (role !== "primary" && role !== "standby") {
    throw new UsageError("--kea needs --role primary or --role standby");
  }
  const self = addressOption(values, "self");
  const peer = addressOption(values, "peer");
  const address = addressOption(values, "address");
  const iface = values.interface as string | undefined;
  if (!self || !peer || !address || !iface) {
    throw new UsageError(
      "--kea needs --self IP and --peer IP (the two servers), --address IP (the one the hubs relay to) and --interface IF",
    );
  }
  const pair: PairSettings = {
    interface: iface,
    routerId: values["router-id"] === undefined ? KEA_ROUTER_ID : Number(values["router-id"]),
    priority: values.priority === undefined
      ? (role === "primary" ? 150 : 100)
      : Number(values.priority),
  };
  const problem = pairProblem(pair);
  if (problem) throw new UsageError(problem);
  return {
    server: {
      role,
      self,
      peer,
      interface: iface,
      leaseFile: pathOption(values, "lease-file", DEFAULT_KEA_LEASE_FILE),
      // stdout is the journal under Debian's kea-dhcp4-server service.
      logOutput: values["kea-log"] === undefined ? "stdout" : pathOption(values, "kea-log", ""),
    },
    pair,
    address,
  };
}

export async function leaseServerConfig(conf: NetConf, values: Options): Promise<string> {
  if (values.kea) {
    if (!values.out) throw new UsageError("lease-server-config --kea needs --out DIR");
    const out = pathOption(values, "out", "");
    const { server, pair, address } = keaServer(values);
    const said = await writeAll([
      [`${out}/kea-dhcp4.conf`, keaConf(conf, server), 0o644],
      [
        `${out}/keepalived.conf`,
        leaseKeepalivedConf(
          conf,
          pair,
          address,
          pathOption(values, "kea-pid-file", DEFAULT_KEA_PID_FILE),
        ),
        0o644,
      ],
    ]);
    return `${
      [
        ...said,
        `On this lease server (${server.self}, the ${server.role}), as root:`,
        `  ${leaseServerCommands(conf, "")[0]}`,
        `  cp ${out}/kea-dhcp4.conf /etc/kea/kea-dhcp4.conf && systemctl restart kea-dhcp4-server   # Debian: kea-dhcp4-server`,
        `  keepalived --vrrp -f ${out}/keepalived.conf   # moves ${address}, which the hubs relay to`,
        `The hubs: server-config FILE --lease-server ${address} ...`,
      ].join("\n")
    }\n`;
  }
  const leaseFile = pathOption(values, "lease-file", DEFAULT_LEASE_FILE);
  const root = values.install ? pathOption(values, "root", "/") : undefined;
  if (!root && !values.out) {
    throw new UsageError("lease-server-config needs --out DIR or --install");
  }
  const file = root
    ? underRoot(root, SERVICE_FILES.dnsmasq)
    : `${pathOption(values, "out", "")}/dnsmasq.conf`;
  const said = await writeAll([[file, dnsmasqConf(conf, leaseFile), 0o644]]);
  return `${
    [
      ...said,
      "On this lease server, as root:",
      `  ${leaseServerCommands(conf, "")[0]}`,
      root ? "  systemctl restart dnsmasq   # Debian: dnsmasq" : `  dnsmasq --conf-file=${file}`,
    ].join("\n")
  }\n`;
}
