/**
 * The CNI result. Internally it always has the 1.x shape; encodeResult turns
 * it into the shape of the version the runtime asked for, decodeResult reads
 * any version's result (an IPAM plugin's answer, a prevResult).
 */

import { CniError, Code, type CodeValue } from "./errors.ts";
import { parseIp, parseIpCidr } from "../net/cidr.ts";
import { resultFamily } from "./version.ts";

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

export interface IpConfig {
  /** CIDR notation: the address and its prefix. */
  address: string;
  gateway?: string;
  /** Index into the result's interfaces. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  interfaces: Interface[];
  ips: IpConfig[];
  routes: Route[];
  dns: Dns;
}

export function emptyResult(): Result {
  return { interfaces: [], ips: [], routes: [], dns: {} };
}

const isV6 = (cidr: string) => cidr.includes(":");

function dnsIsEmpty(dns: Dns): boolean {
  return Object.values(dns).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
}

/** The result as the given cniVersion spells it. */
export function encodeResult(result: Result, cniVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion };
  const family = resultFamily(cniVersion);
  if (family === "0.2") {
    // 0.1/0.2 know one address per family and no interfaces.
    for (const [key, v6] of [["ip4", false], ["ip6", true]] as const) {
      const ip = result.ips.find((i) => isV6(i.address) === v6);
      if (!ip) continue;
      const routes = result.routes.filter((r) => isV6(r.dst) === v6);
      out[key] = {
        ip: ip.address,
        ...(ip.gateway ? { gateway: ip.gateway } : {}),
        ...(routes.length ? { routes } : {}),
      };
    }
  } else {
    if (result.interfaces.length) out.interfaces = result.interfaces;
    out.ips = result.ips.map((ip) => ({
      ...(family === "0.4" ? { version: isV6(ip.address) ? "6" : "4" } : {}),
      address: ip.address,
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
      ...(ip.interface !== undefined ? { interface: ip.interface } : {}),
    }));
    if (result.routes.length) out.routes = result.routes;
  }
  if (!dnsIsEmpty(result.dns)) out.dns = result.dns;
  return out;
}

/**
 * Reads a result field by field. Addresses, gateways and routes are parsed
 * as what they claim to be and kept as the canonical text printed from the
 * parsed value: nothing else an IPAM plugin prints can reach `ip -batch`.
 */
class Decoder {
  constructor(readonly what: string, readonly code: CodeValue) {}

  fail(field: string, problem: string): never {
    throw new CniError(this.code, `${this.what}: ${field} ${problem}`);
  }

  object(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(field, "is not a JSON object");
    }
    return v as Record<string, unknown>;
  }

  list(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, "is not a list");
    return v;
  }

  string(v: unknown, field: string): string {
    if (typeof v !== "string") this.fail(field, "is not a string");
    return v;
  }

  strings(v: unknown, field: string): string[] {
    return this.list(v, field).map((s, i) => this.string(s, `${field}[${i}]`));
  }

  /** Quoted and cut short: a hostile value is shown, never acted on. */
  #shown(v: string): string {
    return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
  }

  cidr(v: unknown, field: string): string {
    const text = this.string(v, field);
    const parsed = parseIpCidr(text);
    if (!parsed) this.fail(field, `${this.#shown(text)} is not an IP address with a prefix`);
    return parsed.text;
  }

  ip(v: unknown, field: string): string {
    const text = this.string(v, field);
    const parsed = parseIp(text);
    if (!parsed) this.fail(field, `${this.#shown(text)} is not an IP address`);
    return parsed.text;
  }

  routes(v: unknown, field: string): Route[] {
    if (v === undefined) return [];
    return this.list(v, field).map((r, i) => {
      const o = this.object(r, `${field}[${i}]`);
      const dst = this.cidr(o.dst, `${field}[${i}].dst`);
      return o.gw === undefined || o.gw === "" ? { dst } : {
        dst,
        gw: this.ip(o.gw, `${field}[${i}].gw`),
      };
    });
  }

  dns(v: unknown): Dns {
    const o = this.object(v, "dns");
    const dns: Dns = {};
    if (o.nameservers !== undefined) {
      dns.nameservers = this.strings(o.nameservers, "dns.nameservers");
    }
    if (o.domain !== undefined) dns.domain = this.string(o.domain, "dns.domain");
    if (o.search !== undefined) dns.search = this.strings(o.search, "dns.search");
    if (o.options !== undefined) dns.options = this.strings(o.options, "dns.options");
    return dns;
  }

  ipConfig(address: unknown, gateway: unknown, field: string): IpConfig {
    const ip: IpConfig = { address: this.cidr(address, `${field}.address`) };
    if (gateway !== undefined && gateway !== "") {
      ip.gateway = this.ip(gateway, `${field}.gateway`);
    }
    return ip;
  }
}

/**
 * Reads a result of any supported version (what an IPAM plugin printed, a
 * prevResult). A malformed one is a CniError with the given code, naming the
 * field.
 */
export function decodeResult(
  raw: unknown,
  cniVersion: string,
  what = "result",
  code: CodeValue = Code.DecodeFailed,
): Result {
  const d = new Decoder(what, code);
  const o = d.object(raw, "the result");
  const version = typeof o.cniVersion === "string" && o.cniVersion !== ""
    ? o.cniVersion
    : cniVersion;
  const result = emptyResult();
  if (o.dns !== undefined) result.dns = d.dns(o.dns);
  if (resultFamily(version) === "0.2" && o.ips === undefined) {
    for (const key of ["ip4", "ip6"]) {
      if (o[key] === undefined) continue;
      const ipc = d.object(o[key], key);
      result.ips.push(d.ipConfig(ipc.ip, ipc.gateway, key));
      result.routes.push(...d.routes(ipc.routes, `${key}.routes`));
    }
    return result;
  }
  if (o.interfaces !== undefined) {
    result.interfaces = d.list(o.interfaces, "interfaces").map((i, n) => {
      const io = d.object(i, `interfaces[${n}]`);
      const iface: Interface = { name: d.string(io.name, `interfaces[${n}].name`) };
      if (io.mac !== undefined) iface.mac = d.string(io.mac, `interfaces[${n}].mac`);
      if (io.mtu !== undefined && typeof io.mtu === "number") iface.mtu = io.mtu;
      if (io.sandbox !== undefined) {
        iface.sandbox = d.string(io.sandbox, `interfaces[${n}].sandbox`);
      }
      return iface;
    });
  }
  if (o.ips !== undefined) {
    result.ips = d.list(o.ips, "ips").map((i, n) => {
      const io = d.object(i, `ips[${n}]`);
      const ip = d.ipConfig(io.address, io.gateway, `ips[${n}]`);
      if (io.interface !== undefined) {
        if (!Number.isInteger(io.interface) || (io.interface as number) < 0) {
          d.fail(`ips[${n}].interface`, "is not an interface index");
        }
        ip.interface = io.interface as number;
      }
      return ip;
    });
  }
  result.routes = d.routes(o.routes, "routes");
  return result;
}
