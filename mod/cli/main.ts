/** The operator commands: what the binary does when no CNI_COMMAND is set. */

import { parseArgs } from "node:util";
import { CniError } from "../cni/errors.ts";
import { type NetConf, parseNetConf, redacted } from "../config/load.ts";
import { readPsk } from "../config/psk.ts";
import { ensureDirectory, writeFileAtomic } from "../fs.ts";
import { hubAddressing, hubStrongswanConf, hubSwanctlConf, pathProblem } from "../ipsec/config.ts";
import { resolveDatapath } from "../ipsec/datapath.ts";
import { type Datapath, DATAPATHS } from "../config/schema.ts";
import { about } from "../version.ts";

const USAGE = `Usage: strongswan [COMMAND] [OPTIONS]

As a CNI plugin it is run by the container runtime with CNI_COMMAND set
(ADD, DEL, CHECK, STATUS, GC, VERSION) and the network configuration on stdin.

Operator commands:
  validate FILE             check a (commented) config; print it normalised, PSK masked
  render FILE [--conflist]  print it as plain JSON for /etc/cni/net.d
                            (--conflist: wrapped in a .conflist, which podman needs)
  server-config FILE --out DIR [--vici-socket PATH] [--log FILE] [--datapath D]
                            write the hub's strongswan.conf and swanctl.conf (0600)
  --version                 print the plugin's version
  --help                    print this help

FILE may be - for stdin.`;

/** A .conflist needs a version; the newest that libcni in Debian 12 (podman 4.3) knows. */
const CONFLIST_VERSION = "1.0.0";

export interface CliOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

async function readConfigText(file: string): Promise<string> {
  if (file === "-") return await new Response(Deno.stdin.readable).text();
  return await Deno.readTextFile(file);
}

async function loadFile(file: string | undefined): Promise<NetConf> {
  if (!file) throw new UsageError("a config FILE is required");
  return parseNetConf(await readConfigText(file));
}

class UsageError extends Error {}

function normalised(conf: NetConf): Record<string, unknown> {
  const { raw, vpn, ...rest } = conf;
  return { ...redacted(raw), ...rest, vpn };
}

/** A path option, checked before anything is written (it goes into strongswan.conf). */
function pathOption(
  values: Record<string, unknown>,
  name: string,
  fallback: string,
  socket = false,
): string {
  const value = (values[name] as string | undefined) ?? fallback;
  const problem = pathProblem(value, socket);
  if (problem) throw new UsageError(`--${name} ${JSON.stringify(value)} ${problem}`);
  return value;
}

async function serverConfig(conf: NetConf, values: Record<string, unknown>): Promise<string> {
  if (!values.out) throw new UsageError("server-config needs --out DIR");
  const out = pathOption(values, "out", "");
  const wanted = (values.datapath as string | undefined) ?? conf.vpn.datapath;
  if (!(DATAPATHS as readonly string[]).includes(wanted)) {
    throw new UsageError(`--datapath must be one of ${DATAPATHS.join(", ")}`);
  }
  const datapath = await resolveDatapath(wanted as Datapath);
  const psk = await readPsk(conf.vpn);
  const files = {
    viciSocket: pathOption(values, "vici-socket", "/var/run/charon.vici", true),
    logFile: pathOption(values, "log", "/var/log/strongswan-hub.log"),
  };
  await ensureDirectory(out, 0o700);
  await writeFileAtomic(`${out}/strongswan.conf`, hubStrongswanConf(datapath, files), 0o644);
  await writeFileAtomic(`${out}/swanctl.conf`, hubSwanctlConf(conf, psk), 0o600);
  const { hubAddress } = hubAddressing(conf.vpn.virtualSubnet);
  return `wrote ${out}/strongswan.conf and ${out}/swanctl.conf (datapath ${datapath})
On the hub, as root:
  ip addr add ${hubAddress}/32 dev lo        # kept out of the pool; kernel-libipsec needs it
  sysctl -w net.ipv4.ip_forward=1
  sysctl -w net.ipv4.conf.all.send_redirects=0   # pod-to-pod traffic leaves by the way it came
  STRONGSWAN_CONF=${out}/strongswan.conf /usr/lib/ipsec/charon &
  swanctl --load-all --file ${out}/swanctl.conf --uri unix://${files.viciSocket}
`;
}

export async function runCli(args: string[]): Promise<CliOutcome> {
  const ok = (stdout: string): CliOutcome => ({ stdout, stderr: "", exitCode: 0 });
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        conflist: { type: "boolean" },
        out: { type: "string" },
        "vici-socket": { type: "string" },
        log: { type: "string" },
        datapath: { type: "string" },
      },
    });
    const [command, file] = positionals;
    if (values.help || command === "help") return ok(`${USAGE}\n`);
    if (values.version || command === "version") return ok(`${about()}\n`);
    switch (command) {
      case undefined:
        return ok(`${about()}\n`);
      case "validate":
        return ok(`${JSON.stringify(normalised(await loadFile(file)), null, 2)}\n`);
      case "render": {
        const { raw } = await loadFile(file);
        const { cniVersion, name, ...plugin } = raw;
        const doc = values.conflist
          ? { cniVersion: cniVersion ?? CONFLIST_VERSION, name, plugins: [plugin] }
          : raw;
        return ok(`${JSON.stringify(doc, null, 2)}\n`);
      }
      case "server-config":
        return ok(await serverConfig(await loadFile(file), values));
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof CniError) {
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
