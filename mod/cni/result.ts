/**
 * The CNI result. Internally it always has the 1.x shape; encodeResult turns
 * it into the shape of the version the runtime asked for, decodeResult reads
 * any version's result (an IPAM plugin's answer, a prevResult).
 */

import { CniError, Code } from "./errors.ts";
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

function undecodable(what: string, detail: string): CniError {
  return new CniError(Code.DecodeFailed, `cannot decode ${what}: ${detail}`);
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw undecodable(what, "not a JSON object");
  }
  return v as Record<string, unknown>;
}

function asString(v: unknown, what: string): string {
  if (typeof v !== "string") throw undecodable(what, "expected a string");
  return v;
}

function decodeRoutes(v: unknown, what: string): Route[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw undecodable(what, "routes is not a list");
  return v.map((r) => {
    const o = asObject(r, what);
    return { dst: asString(o.dst, what), ...(o.gw ? { gw: asString(o.gw, what) } : {}) };
  });
}

/** Reads a result of any supported version (what an IPAM plugin printed, a prevResult). */
export function decodeResult(raw: unknown, cniVersion: string, what = "result"): Result {
  const o = asObject(raw, what);
  const version = typeof o.cniVersion === "string" && o.cniVersion !== ""
    ? o.cniVersion
    : cniVersion;
  const result = emptyResult();
  if (o.dns !== undefined) result.dns = asObject(o.dns, what) as Dns;
  if (resultFamily(version) === "0.2" && o.ips === undefined) {
    for (const key of ["ip4", "ip6"]) {
      if (o[key] === undefined) continue;
      const ipc = asObject(o[key], what);
      result.ips.push({
        address: asString(ipc.ip, what),
        ...(ipc.gateway ? { gateway: asString(ipc.gateway, what) } : {}),
      });
      result.routes.push(...decodeRoutes(ipc.routes, what));
    }
    return result;
  }
  if (o.interfaces !== undefined) {
    if (!Array.isArray(o.interfaces)) throw undecodable(what, "interfaces is not a list");
    result.interfaces = o.interfaces.map((i) => {
      const io = asObject(i, what);
      return { ...io, name: asString(io.name, what) } as Interface;
    });
  }
  if (o.ips !== undefined) {
    if (!Array.isArray(o.ips)) throw undecodable(what, "ips is not a list");
    result.ips = o.ips.map((i) => {
      const io = asObject(i, what);
      return {
        address: asString(io.address, what),
        ...(io.gateway ? { gateway: asString(io.gateway, what) } : {}),
        ...(typeof io.interface === "number" ? { interface: io.interface } : {}),
      };
    });
  }
  result.routes = decodeRoutes(o.routes, what);
  return result;
}
