/** The CNI_* environment: which variables each command needs, and their checks. */

import { hasBatchSyntax } from "../net/ipbatch.ts";
import { CniError, Code } from "./errors.ts";

export const COMMANDS = ["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"] as const;
export type Command = typeof COMMANDS[number];

export interface CniEnv {
  command: Command;
  containerId: string;
  /** Empty for DEL when the runtime no longer has the namespace. */
  netns: string;
  ifname: string;
  /** Directories to look for plugins in (CNI_PATH, split). */
  path: string[];
  args: Record<string, string>;
  /** K8S_POD_NAMESPACE and K8S_POD_NAME from CNI_ARGS, when both are valid Kubernetes names. */
  pod?: PodRef;
}

export interface PodRef {
  namespace: string;
  name: string;
}

/** Which attachment a step is about: the runtime's, or (for GC) a stale one. */
export type AttachmentTarget = Pick<CniEnv, "containerId" | "ifname" | "netns">;

// From the spec: a container ID is alphanumerics plus _ . - and not empty.
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;
// Runtimes use 64 hex digits; the IKE identity must stay short (DHCP client ids).
const MAX_CONTAINER_ID = 128;
const IFNAMSIZ = 16;
/** Interface names reach `ip -batch` and strongswan.conf: only characters neither can misread. */
const INTERFACE_NAME = /^[A-Za-z0-9_.\-]+$/;
/** A Kubernetes namespace or pod name (DNS-1123 subdomain). */
const K8S_NAME = /^[a-z0-9]([a-z0-9.\-]{0,251}[a-z0-9])?$/;

/** Checks an interface name: the kernel's length limit, and only [A-Za-z0-9_.-]. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name.length >= IFNAMSIZ) return `is longer than ${IFNAMSIZ - 1} characters`;
  if (name === "." || name === "..") return "is . or ..";
  if (!INTERFACE_NAME.test(name)) return "may hold only letters, digits, '_', '.' and '-'";
  return undefined;
}

/** Checks a network namespace path before it reaches nsenter and `ip -batch`. */
export function netnsPathProblem(path: string): string | undefined {
  if (!path.startsWith("/")) return "must be an absolute path";
  // It reaches `ip -batch` (the veth's peer netns).
  if (hasBatchSyntax(path)) {
    return "must not hold quotes, backslashes, '#', white space or control characters";
  }
  if (path.length > 4096) return "is longer than 4096 characters";
  return undefined;
}

/**
 * required: must be set and valid; optional: valid if set; unused: neither
 * read nor checked. libcni runs VERSION with CNI_CONTAINERID, CNI_NETNS and
 * CNI_IFNAME all "dummy" to validate a config: a plugin that checked them
 * there would make runtimes report "network not found".
 */
type Need = "required" | "optional" | "unused";
type Needs = { containerId: Need; netns: Need; ifname: Need; path: Need; args: Need };

const NEEDS: Record<Command, Needs> = {
  ADD: {
    containerId: "required",
    netns: "required",
    ifname: "required",
    path: "required",
    args: "optional",
  },
  CHECK: {
    containerId: "required",
    netns: "required",
    ifname: "required",
    path: "required",
    args: "optional",
  },
  DEL: {
    containerId: "required",
    netns: "optional",
    ifname: "required",
    path: "required",
    args: "optional",
  },
  STATUS: {
    containerId: "unused",
    netns: "unused",
    ifname: "unused",
    path: "required",
    args: "unused",
  },
  GC: {
    containerId: "unused",
    netns: "unused",
    ifname: "unused",
    path: "required",
    args: "unused",
  },
  VERSION: {
    containerId: "unused",
    netns: "unused",
    ifname: "unused",
    path: "unused",
    args: "unused",
  },
};

function bad(msg: string): CniError {
  return new CniError(Code.InvalidEnv, msg);
}

/** Parses CNI_ARGS ("K1=V1;K2=V2"). */
export function parseCniArgs(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === "") return out;
  for (const pair of raw.split(";")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw bad(`CNI_ARGS: "${pair}" is not of the form KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** Reads and validates the variables the given command needs (code 4 if not). */
export function parseEnv(get: (name: string) => string | undefined): CniEnv {
  const command = get("CNI_COMMAND") ?? "";
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw bad(`CNI_COMMAND "${command}" is not one of ${COMMANDS.join(", ")}`);
  }
  const needs = NEEDS[command as Command];
  const value = (name: string, need: Need): string => {
    if (need === "unused") return "";
    const v = get(name) ?? "";
    if (need === "required" && v === "") {
      throw bad(`${name} is required for ${command} but is not set`);
    }
    return v;
  };

  const containerId = value("CNI_CONTAINERID", needs.containerId);
  if (containerId !== "") {
    if (!CONTAINER_ID.test(containerId)) {
      throw bad(
        `CNI_CONTAINERID ${
          JSON.stringify(containerId.slice(0, 80))
        } must start with a letter or digit and hold only letters, digits, _ . -`,
      );
    }
    if (containerId.length > MAX_CONTAINER_ID) {
      throw bad(`CNI_CONTAINERID is longer than ${MAX_CONTAINER_ID} characters`);
    }
  }
  const netns = value("CNI_NETNS", needs.netns);
  if (netns !== "") {
    const problem = netnsPathProblem(netns);
    if (problem) throw bad(`CNI_NETNS ${JSON.stringify(netns.slice(0, 200))} ${problem}`);
  }
  const ifname = value("CNI_IFNAME", needs.ifname);
  if (ifname !== "") {
    const problem = interfaceNameProblem(ifname);
    if (problem) throw bad(`CNI_IFNAME ${JSON.stringify(ifname.slice(0, 40))} ${problem}`);
  }
  const path = value("CNI_PATH", needs.path).split(":").filter((p) => p !== "");
  const args = parseCniArgs(value("CNI_ARGS", needs.args));
  const pod = podRef(args);
  return {
    command: command as Command,
    containerId,
    netns,
    ifname,
    path,
    args,
    ...(pod ? { pod } : {}),
  };
}

/** The pod's namespace and name, if the runtime passed both and both are valid names. */
function podRef(args: Record<string, string>): PodRef | undefined {
  const namespace = args.K8S_POD_NAMESPACE;
  const name = args.K8S_POD_NAME;
  if (!namespace || !name || !K8S_NAME.test(namespace) || !K8S_NAME.test(name)) return undefined;
  return { namespace, name };
}
