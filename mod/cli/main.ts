/** The operator commands: what the binary does when no CNI_COMMAND is set. */

import { CniError } from "../cni/errors.ts";
import { type NetConf, redacted } from "../config/load.ts";
import { about, PLUGIN_VERSION } from "../version.ts";
import {
  type CliOutcome,
  loadFile,
  type Options,
  pathOption,
  RefusedError,
  UsageError,
} from "./common.ts";
import { install, uninstall } from "./install.ts";
import { renderConfig, renderedMode, renderedText } from "./render.ts";
import { writeFileAtomic } from "../fs.ts";
import { readPsk } from "../config/psk.ts";

/** Where the distribution's strongSwan service (charon-systemd) listens. */
const DEBIAN_VICI_SOCKET = "/var/run/charon.vici";
import { serverConfig } from "./server_config.ts";
import { leaseServerConfig } from "./lease_config.ts";
import { hubStatus, nodeStatus } from "./status.ts";

const USAGE = `Usage: strongswan [COMMAND] [OPTIONS]

As a CNI plugin it is run by the container runtime with CNI_COMMAND set
(ADD, DEL, CHECK, STATUS, GC, VERSION) and the network configuration on stdin.

Operator commands:
  validate FILE             check a (commented) config; print it normalised, PSK masked
  render FILE [--conflist] [--out PATH]
                            it as plain JSON for /etc/cni/net.d (--conflist: wrapped in
                            a .conflist, which podman needs); --out writes it atomically,
                            0600 when it holds the PSK, nothing on error
  install --config FILE [--bin-dir DIR] [--conf-dir DIR] [--agent [--unit-dir DIR]]
                            put this plugin in DIR (/opt/cni/bin) and the network's
                            .conflist in DIR (/etc/cni/net.d); --agent also the node
                            agent's systemd unit in DIR (/etc/systemd/system); safe to
                            run again
  uninstall [--bin-dir DIR] [--conf-dir DIR] [--unit-dir DIR] [--force]
                            remove what install wrote; refuses while pods are attached
  server-config FILE --out DIR [--lease-server IP [--lease-file PATH]]
                [--interface IF] [--pair [--router-id N] [--priority N] [--peer IP --self IP]]
                [--vici-socket PATH] [--log FILE] [--datapath D]
                            write the hub's strongswan.conf and swanctl.conf (0600),
                            and with a lease server its dnsmasq.conf; one hub of a pair
                            also keepalived.conf (VRRP moves serverIP); print what is left
  server-config FILE --install [--root DIR] [the options above but --out]
                            the hub as Debian's strongSwan (and keepalived) service:
                            drop-ins in /etc/strongswan.d, /etc/swanctl/conf.d,
                            /etc/sysctl.d, strongswan.service.d, /etc/keepalived
  lease-server-config FILE (--out DIR | --install [--root DIR]) [--lease-file PATH]
                            on the lease server: dnsmasq's settings (or its drop-in in
                            /etc/dnsmasq.d)
  lease-server-config FILE --out DIR --kea --role primary|standby --self IP --peer IP
                --address IP --interface IF [--router-id N] [--priority N]
                            one Kea server of a replicated pair (HA hot-standby) and
                            keepalived for the address the hubs relay to
  status [--network NAME] [--json]
                            every attachment on this node and its tunnel; exit 1 if any
                            is unhealthy (daemon gone, tunnel down, address changed)
  status --hub [FILE] [--vici-socket PATH] [--json]
                            the pods this hub holds; with FILE, whether it is the active
                            hub (holds serverIP). Socket default: /var/run/charon.vici
  agent                     serve this node's CNI calls from one resident process (a
                            call then costs about half the CPU); runs until SIGTERM
  --version                 print the plugin's version
  --help                    print this help

FILE may be - for stdin.`;

function normalised(conf: NetConf): Record<string, unknown> {
  const { raw, vpn, ...rest } = conf;
  return { ...redacted(raw), ...rest, vpn };
}

async function render(file: string | undefined, values: Options): Promise<CliOutcome> {
  const rendered = renderConfig(await loadFile(file), values.conflist === true);
  const stderr = rendered.warnings.map((w) => `warning: ${w}\n`).join("");
  if (values.out === undefined) return { stdout: renderedText(rendered), stderr, exitCode: 0 };
  const out = pathOption(values, "out", "");
  const mode = renderedMode(rendered);
  const outcome = await writeFileAtomic(out, renderedText(rendered), mode);
  return { stdout: `${out}: ${outcome} (mode ${mode.toString(8)})\n`, stderr, exitCode: 0 };
}

/** `agent`: serves until SIGTERM or SIGINT, then lets the commands under way finish. */
async function runAgent(): Promise<CliOutcome> {
  const { startAgent } = await import("../agent/server.ts");
  const agent = await startAgent();
  const write = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
  write(`strongswan agent ${PLUGIN_VERSION}: serving ${agent.socket}`);
  const signal = await new Promise<Deno.Signal>((resolve) => {
    for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, () => resolve(s));
  });
  write(`strongswan agent: ${signal}: finishing the commands under way`);
  await agent.close();
  return { stdout: "", stderr: "strongswan agent: stopped\n", exitCode: 0 };
}

export async function runCli(args: string[]): Promise<CliOutcome> {
  const ok = (stdout: string): CliOutcome => ({ stdout, stderr: "", exitCode: 0 });
  try {
    // Loaded here, not at the top: Node's compatibility layer costs ~8 ms to start.
    const { parseArgs } = await import("node:util");
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        conflist: { type: "boolean" },
        out: { type: "string" },
        config: { type: "string" },
        "bin-dir": { type: "string" },
        "conf-dir": { type: "string" },
        agent: { type: "boolean" },
        "unit-dir": { type: "string" },
        force: { type: "boolean" },
        "vici-socket": { type: "string" },
        log: { type: "string" },
        datapath: { type: "string" },
        "lease-server": { type: "string" },
        "lease-file": { type: "string" },
        interface: { type: "string" },
        pair: { type: "boolean" },
        install: { type: "boolean" },
        kea: { type: "boolean" },
        role: { type: "string" },
        address: { type: "string" },
        "kea-log": { type: "string" },
        "kea-pid-file": { type: "string" },
        root: { type: "string" },
        "router-id": { type: "string" },
        priority: { type: "string" },
        peer: { type: "string" },
        self: { type: "string" },
        json: { type: "boolean" },
        network: { type: "string" },
        hub: { type: "boolean" },
      },
    });
    const [command, file] = positionals;
    if (values.help || command === "help") return ok(`${USAGE}\n`);
    if (values.version || command === "version") return ok(`${about()}\n`);
    switch (command) {
      case undefined:
        return ok(`${about()}\n`);
      case "validate": {
        const conf = await loadFile(file);
        // What ADD would find wrong without the hub: the PSK file, read the way ADD reads it.
        await readPsk(conf.vpn);
        const rendered = renderConfig(conf, false);
        return {
          stdout: `${JSON.stringify(normalised(conf), null, 2)}\n`,
          stderr: rendered.warnings.map((w) => `warning: ${w}\n`).join(""),
          exitCode: 0,
        };
      }
      case "render":
        return await render(file, values);
      case "install":
        return await install(values);
      case "uninstall":
        return await uninstall(values);
      case "server-config":
        return ok(await serverConfig(await loadFile(file), values));
      case "lease-server-config":
        return ok(await leaseServerConfig(await loadFile(file), values));
      case "status":
        if (!values.hub) {
          return await nodeStatus(values.json === true, values.network as string | undefined);
        }
        return await hubStatus(
          pathOption(values, "vici-socket", DEBIAN_VICI_SOCKET, true),
          file ? (await loadFile(file)).vpn.serverIP : undefined,
          values.json === true,
        );
      case "agent":
        return await runAgent();
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof CniError || err instanceof RefusedError) {
      return { stdout: "", stderr: `error: ${err.message}\n`, exitCode: 1 };
    }
    if (
      err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      return { stdout: "", stderr: `error: ${(err as Error).message}\n\n${USAGE}\n`, exitCode: 2 };
    }
    return { stdout: "", stderr: `error: ${(err as Error).message}\n`, exitCode: 1 };
  }
}
