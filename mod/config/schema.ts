/**
 * The network configuration's schema. Field names are the seed's; every
 * default is declared here and nowhere else.
 */

import { z } from "zod";
import { interfaceNameProblem } from "../cni/env.ts";
import { canonicalCidr, networkOf, parseCidr, parseIPv4 } from "../net/cidr.ts";

export const DATAPATHS = ["auto", "kernel", "userspace"] as const;
export type Datapath = typeof DATAPATHS[number];

export const DEFAULTS = {
  bridge: "cni0",
  datapath: "auto" as Datapath,
  /** Seconds ADD waits for the tunnel. */
  timeout: 10,
};

const ipv4 = z.string().refine((s) => parseIPv4(s) !== undefined, {
  error: "expected an IPv4 address such as 10.9.0.2",
});

const subnet = z.string().superRefine((s, ctx) => {
  const c = parseCidr(s);
  if (!c) {
    ctx.addIssue({ code: "custom", message: "expected an IPv4 CIDR such as 10.173.0.0/16" });
  } else if (networkOf(c) !== c.addr) {
    ctx.addIssue({
      code: "custom",
      message: `has host bits set; did you mean ${canonicalCidr(c)}?`,
    });
  }
});

const interfaceName = z.string().superRefine((s, ctx) => {
  const problem = interfaceNameProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: `interface name ${problem}` });
});

const vpn = z.strictObject({
  serverIP: ipv4,
  virtualSubnet: subnet,
  hostSubnet: subnet,
  PSK: z.string().min(1, { error: "must not be empty" }).optional(),
  /** The original plugin's spelling, accepted as well. */
  psk: z.string().min(1, { error: "must not be empty" }).optional(),
  pskFile: z.string().startsWith("/", { error: "must be an absolute path" }).optional(),
  datapath: z.enum(DATAPATHS).default(DEFAULTS.datapath),
  timeout: z.number().positive().max(300).default(DEFAULTS.timeout),
}, {
  error: (iss) =>
    iss.input === undefined
      ? "is required: this plugin never attaches a pod without IPsec"
      : undefined,
}).superRefine((v, ctx) => {
  const sources = [v.PSK, v.psk, v.pskFile].filter((s) => s !== undefined).length;
  if (sources !== 1) {
    ctx.addIssue({
      code: "custom",
      message: "give exactly one of PSK, psk or pskFile",
      path: ["PSK"],
    });
  }
});

const ipam = z.looseObject({
  type: z.string().min(1).refine((t) => !t.includes("/") && !t.includes(".."), {
    error: "must be a plugin name, without '/' or '..'",
  }),
}, {
  error: (iss) =>
    iss.input === undefined ? "is required: the pod's bridge address comes from IPAM" : undefined,
});

const dns = z.object({
  nameservers: z.array(z.string()).optional(),
  domain: z.string().optional(),
  search: z.array(z.string()).optional(),
  options: z.array(z.string()).optional(),
});

/** Unknown top-level keys pass: runtimes add runtimeConfig, args, prevResult. */
export const netConfSchema = z.looseObject({
  cniVersion: z.string().optional(),
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/, {
    error: "must start with a letter or digit and hold only letters, digits, _ . -",
  }),
  type: z.string().min(1),
  vpn,
  bridge: interfaceName.default(DEFAULTS.bridge),
  isGateway: z.boolean().default(false),
  isDefaultGateway: z.boolean().default(false),
  forceAddress: z.boolean().default(false),
  ipMasq: z.boolean().default(false),
  mtu: z.number().int().min(68).max(65535).optional(),
  hairpinMode: z.boolean().default(false),
  promiscMode: z.boolean().default(false),
  ipam,
  dns: dns.optional(),
  prevResult: z.unknown().optional(),
});

export type ParsedNetConf = z.infer<typeof netConfSchema>;
