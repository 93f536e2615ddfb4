/**
 * The network configuration's schema (zod/mini: only what is used is
 * bundled). Field names are the seed's; every default is declared here and
 * nowhere else. Messages are the plugin's own; issues.ts words the rest.
 */

import * as z from "zod/mini";
import { LOG_LEVELS } from "../log.ts";
import { interfaceNameProblem } from "../cni/env.ts";
import {
  broadcastOf,
  canonicalCidr,
  type Cidr,
  contains,
  formatIPv4,
  networkOf,
  overlaps,
  parseCidr,
  parseIPv4,
} from "../net/cidr.ts";

export const DATAPATHS = ["auto", "kernel", "userspace"] as const;
export type Datapath = typeof DATAPATHS[number];

export const DEFAULTS = {
  bridge: "cni0",
  datapath: "auto" as Datapath,
  /** Seconds ADD waits for the tunnel. */
  timeout: 10,
  /** Seconds the IPAM plugin may take (it and whatever it started are killed then). */
  ipamTimeout: 30,
  /** Where each command leaves a line; "" for none. */
  logFile: "/var/log/strongswan-cni.log",
  logLevel: "info" as const,
};

/** Whether a string holds a control character (a path with one is not a path). */
function hasControl(s: string): boolean {
  return [...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

/** The only directory a pskFile may be in (root-owned, like its parents). */
export const PSK_DIR = "/etc/cni/strongswan";

/** Ranges no pod network may overlap: the node would lose its own routes. */
const RESERVED: [string, string][] = [
  ["0.0.0.0/8", "'this network'"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
];

const custom = (message: string, path?: PropertyKey[]) => ({
  code: "custom" as const,
  message,
  input: undefined,
  ...(path ? { path } : {}),
});

const ipv4 = z.string().check(
  z.refine((s) => parseIPv4(s) !== undefined, {
    error: "must be an IPv4 address such as 10.9.0.2",
  }),
);

/** A pod network: a real CIDR, no host bits, not too big to route, clear of reserved ranges. */
const subnet = (minPrefix: number, maxPrefix: number) =>
  z.string().check(z.superRefine((s, ctx) => {
    const c = parseCidr(s);
    if (!c) {
      ctx.addIssue(custom("must be an IPv4 CIDR such as 10.173.0.0/16"));
    } else if (networkOf(c) !== c.addr) {
      ctx.addIssue(custom(`has host bits set; did you mean ${canonicalCidr(c)}?`));
    } else if (c.prefix < minPrefix || c.prefix > maxPrefix) {
      ctx.addIssue(custom(
        `must be a /${minPrefix} to /${maxPrefix}: a wider one would take over the node's own routes`,
      ));
    } else {
      for (const [range, what] of RESERVED) {
        if (overlaps(c, parseCidr(range)!)) {
          ctx.addIssue(custom(`overlaps the ${what} range ${range}`));
        }
      }
    }
  }));

const interfaceName = z.string().check(z.superRefine((s, ctx) => {
  const problem = interfaceNameProblem(s);
  if (problem) ctx.addIssue(custom(`is not a valid interface name: it ${problem}`));
}));

/** An identity strongSwan reads as an IP address, a host name or user@host; it reaches swanctl.conf. */
const identity = z.string().check(
  z.refine(
    (s) => /^[A-Za-z0-9][A-Za-z0-9.\-]{0,126}(@[A-Za-z0-9][A-Za-z0-9.\-]{0,126})?$/.test(s),
    {
      error: "must be an IPv4 address, a host name or user@host (letters, digits, '.', '-')",
    },
  ),
);

const pskFile = z.string().check(
  z.refine((s) => new RegExp(`^${PSK_DIR}/[A-Za-z0-9_.\\-]+$`).test(s) && !s.endsWith("/.."), {
    error: `must be a file directly in ${PSK_DIR}/ (root-owned, mode 0600)`,
  }),
);

const secret = z.string().check(z.minLength(1, { error: "must not be empty" }));

const vpn = z.strictObject({
  serverIP: ipv4,
  /** The identity the hub must prove with the PSK; pinned, since every node holds that PSK. */
  serverIdentity: z.optional(identity),
  virtualSubnet: subnet(8, 30),
  /**
   * The hub's own address inside virtualSubnet, which a pod must refuse as
   * its virtual IP; absent: the hub's pool may hand out every address but
   * the network and broadcast ones (a hub configured by hand).
   */
  hubAddress: z.optional(ipv4),
  hostSubnet: subnet(8, 32),
  PSK: z.optional(secret),
  /** The original plugin's spelling, accepted as well. */
  psk: z.optional(secret),
  pskFile: z.optional(pskFile),
  datapath: z._default(z.enum(DATAPATHS), DEFAULTS.datapath),
  timeout: z._default(z.number().check(z.positive(), z.maximum(300)), DEFAULTS.timeout),
}).check(z.superRefine((v, ctx) => {
  const sources = [v.PSK, v.psk, v.pskFile].filter((s) => s !== undefined).length;
  if (sources !== 1) ctx.addIssue(custom("give exactly one of PSK, psk or pskFile", ["PSK"]));
  const virtual = parseCidr(v.virtualSubnet ?? "");
  const host = parseCidr(v.hostSubnet ?? "");
  const server = parseIPv4(v.serverIP ?? "");
  if (virtual && host && overlaps(virtual, host)) {
    ctx.addIssue(custom("overlaps vpn.hostSubnet: the two must be disjoint", ["virtualSubnet"]));
  }
  const hubAddress = parseIPv4(v.hubAddress ?? "");
  if (virtual && hubAddress !== undefined) {
    const firstLast = [networkOf(virtual) + 1, broadcastOf(virtual) - 1];
    if (!contains(virtual, hubAddress)) {
      ctx.addIssue(custom(`lies outside vpn.virtualSubnet ${v.virtualSubnet}`, ["hubAddress"]));
    } else if (!firstLast.includes(hubAddress)) {
      ctx.addIssue(
        custom(
          `must be the first or the last usable address of vpn.virtualSubnet (${
            firstLast.map(formatIPv4).join(" or ")
          }), so the pool is one range`,
          ["hubAddress"],
        ),
      );
    }
  }
  if (virtual && server !== undefined && contains(virtual, server)) {
    ctx.addIssue(
      custom(`holds vpn.serverIP ${formatIPv4(server)}: the hub must be outside it`, [
        "virtualSubnet",
      ]),
    );
  }
}));

/** The subnets a host-local style ipam section hands out ("subnet", or "ranges"), parsed. */
export function ipamSubnets(ipam: Record<string, unknown>): Cidr[] {
  const found: unknown[] = [ipam.subnet];
  if (Array.isArray(ipam.ranges)) {
    for (const set of ipam.ranges) {
      if (Array.isArray(set)) { for (const r of set) found.push(r?.subnet); }
    }
  }
  return found.flatMap((s) => {
    const c = typeof s === "string" ? parseCidr(s) : undefined;
    return c ? [c] : [];
  });
}

const ipam = z.looseObject({
  type: z.string().check(
    z.minLength(1, { error: "must name the IPAM plugin, e.g. host-local" }),
    z.refine((t) => /^[A-Za-z0-9_.\-]+$/.test(t) && t !== "." && t !== "..", {
      error: "must be a plugin name (letters, digits, '_', '.', '-'), not a path",
    }),
  ),
});

const dns = z.object({
  nameservers: z.optional(z.array(z.string())),
  domain: z.optional(z.string()),
  search: z.optional(z.array(z.string())),
  options: z.optional(z.array(z.string())),
});

/** Unknown top-level keys pass: runtimes add runtimeConfig, args, prevResult. */
export const netConfSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  name: z.string().check(
    z.regex(/^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,127}$/, {
      error: "must start with a letter or digit and hold only letters, digits, '_', '.', '-'",
    }),
  ),
  type: z.string().check(z.minLength(1, { error: "must not be empty" })),
  vpn,
  bridge: z._default(interfaceName, DEFAULTS.bridge),
  isGateway: z._default(z.boolean(), false),
  isDefaultGateway: z._default(z.boolean(), false),
  forceAddress: z._default(z.boolean(), false),
  ipMasq: z._default(z.boolean(), false),
  mtu: z.optional(z.int().check(z.minimum(68), z.maximum(65535))),
  hairpinMode: z._default(z.boolean(), false),
  promiscMode: z._default(z.boolean(), false),
  ipam,
  ipamTimeout: z._default(
    z.number().check(z.positive(), z.maximum(300)),
    DEFAULTS.ipamTimeout,
  ),
  dns: z.optional(dns),
  logFile: z._default(
    z.string().check(
      z.refine((s) => s === "" || (s.startsWith("/") && !s.endsWith("/") && !hasControl(s)), {
        error: 'must be an absolute file path, or "" for no log file',
      }),
    ),
    DEFAULTS.logFile,
  ),
  logLevel: z._default(z.enum(LOG_LEVELS), DEFAULTS.logLevel),
  prevResult: z.optional(z.unknown()),
}).check(z.superRefine((c, ctx) => {
  if (!c.ipam || typeof c.ipam !== "object" || !c.vpn) return;
  for (const pod of ipamSubnets(c.ipam as Record<string, unknown>)) {
    for (const key of ["virtualSubnet", "hostSubnet"] as const) {
      const tunnelled = parseCidr(c.vpn[key] ?? "");
      if (tunnelled && overlaps(pod, tunnelled)) {
        ctx.addIssue(
          custom(
            `subnet ${
              canonicalCidr(pod)
            } overlaps vpn.${key}: pods' bridge addresses must lie outside it`,
            ["ipam"],
          ),
        );
      }
    }
  }
}));

export type ParsedNetConf = z.infer<typeof netConfSchema>;
