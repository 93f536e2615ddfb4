/**
 * IP address and prefix parsing and arithmetic (pure). Every address that
 * reaches text for another program is parsed here first and printed from
 * the parsed value, so nothing but digits, dots, colons and hex gets through.
 */

export interface Cidr {
  /** The address as written, as a 32-bit unsigned number. */
  addr: number;
  prefix: number;
}

const OCTET = "(0|[1-9]\\d{0,2})";
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/**
 * Strict dotted decimal: no leading zeros, which some programs read as
 * octal, so the text of an accepted address is its canonical form.
 */
export function parseIPv4(s: string): number | undefined {
  const m = DOTTED_QUAD.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function parsePrefix(text: string, max: number): number | undefined {
  if (!/^(0|[1-9]\d{0,2})$/.test(text)) return undefined;
  const prefix = Number(text);
  return prefix <= max ? prefix : undefined;
}

export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseIPv4(s.slice(0, slash));
  const prefix = parsePrefix(s.slice(slash + 1), 32);
  return addr === undefined || prefix === undefined ? undefined : { addr, prefix };
}

/** The eight 16-bit groups of an IPv6 address ("::" and a dotted IPv4 tail allowed), or undefined. */
export function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(s)) return undefined;
  let text = s;
  const tail: number[] = [];
  if (s.includes(".")) {
    const cut = s.lastIndexOf(":");
    const v4 = parseIPv4(s.slice(cut + 1));
    if (cut < 0 || v4 === undefined) return undefined;
    tail.push(v4 >>> 16, v4 & 0xffff);
    text = s.slice(0, cut + 1);
    // Keep a "::" before the tail; drop a lone separating colon.
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (![...head, ...rest].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const before = head.map((g) => parseInt(g, 16));
  const after = [...rest.map((g) => parseInt(g, 16)), ...tail];
  const given = before.length + after.length;
  if (halves.length === 1) return given === 8 ? [...before, ...after] : undefined;
  return given <= 7 ? [...before, ...new Array(8 - given).fill(0), ...after] : undefined;
}

/** RFC 5952 text: lower case, the longest run of zero groups (2 or more) as "::". */
export function formatIPv6(words: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

export type IpFamily = 4 | 6;

export interface ParsedIp {
  family: IpFamily;
  /** The canonical text, printed from the parsed value. */
  text: string;
}

/** An IPv4 or IPv6 address as canonical text; undefined if it is neither. */
export function parseIp(s: string): ParsedIp | undefined {
  const v4 = parseIPv4(s);
  if (v4 !== undefined) return { family: 4, text: formatIPv4(v4) };
  const v6 = parseIPv6(s);
  return v6 ? { family: 6, text: formatIPv6(v6) } : undefined;
}

/** An IPv4 or IPv6 address with a prefix, as canonical text; host bits are kept. */
export function parseIpCidr(s: string): ParsedIp | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  if (!ip) return undefined;
  const prefix = parsePrefix(s.slice(slash + 1), ip.family === 4 ? 32 : 128);
  return prefix === undefined ? undefined : { family: ip.family, text: `${ip.text}/${prefix}` };
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

/** Whether two prefixes share any address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.addr) || contains(b, a.addr);
}

/** The CIDR with its host bits cleared, as text ("10.1.2.3/16" -> "10.1.0.0/16"). */
export function canonicalCidr(c: Cidr): string {
  return `${formatIPv4(networkOf(c))}/${c.prefix}`;
}

/** "10.1.2.3/16" -> "10.1.2.3" */
export function addressOf(cidr: string): string {
  return cidr.split("/")[0];
}
