/** IPv4 address and prefix arithmetic (pure). */

export interface Cidr {
  /** The address as written, as a 32-bit unsigned number. */
  addr: number;
  prefix: number;
}

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseIPv4(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (addr === undefined || !/^\d{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= 32 ? { addr, prefix } : undefined;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(c: Cidr): number {
  return (c.addr & maskOf(c.prefix)) >>> 0;
}

export function broadcastOf(c: Cidr): number {
  return (networkOf(c) | ~maskOf(c.prefix)) >>> 0;
}

export function contains(c: Cidr, addr: number): boolean {
  return ((addr & maskOf(c.prefix)) >>> 0) === networkOf(c);
}

/** The CIDR with its host bits cleared, as text ("10.1.2.3/16" -> "10.1.0.0/16"). */
export function canonicalCidr(c: Cidr): string {
  return `${formatIPv4(networkOf(c))}/${c.prefix}`;
}

/** "10.1.2.3/16" -> "10.1.2.3" */
export function addressOf(cidr: string): string {
  return cidr.split("/")[0];
}
