/**
 * A minimal client for strongSwan's vici protocol (its README in
 * src/libcharon/plugins/vici): length-prefixed packets over a unix socket,
 * messages of sections, key/values and lists.
 */

import { after } from "../timer.ts";

export type ViciValue = string | string[] | ViciMessage;
export interface ViciMessage {
  [key: string]: ViciValue;
}

const Packet = {
  CmdRequest: 0,
  CmdResponse: 1,
  CmdUnknown: 2,
  EventRegister: 3,
  EventUnregister: 4,
  EventConfirm: 5,
  EventUnknown: 6,
  Event: 7,
} as const;

const Element = {
  SectionStart: 1,
  SectionEnd: 2,
  KeyValue: 3,
  ListStart: 4,
  ListItem: 5,
  ListEnd: 6,
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Writer {
  readonly bytes: number[] = [];
  u8(n: number) {
    this.bytes.push(n & 0xff);
  }
  name(s: string) {
    const b = encoder.encode(s);
    if (b.length > 255) throw new Error(`vici name too long: ${s}`);
    this.u8(b.length);
    this.bytes.push(...b);
  }
  value(s: string) {
    const b = encoder.encode(s);
    if (b.length > 0xffff) throw new Error("vici value too long");
    this.u8(b.length >> 8);
    this.u8(b.length);
    this.bytes.push(...b);
  }
}

function writeMessage(w: Writer, msg: ViciMessage): void {
  for (const [key, value] of Object.entries(msg)) {
    if (typeof value === "string") {
      w.u8(Element.KeyValue);
      w.name(key);
      w.value(value);
    } else if (Array.isArray(value)) {
      w.u8(Element.ListStart);
      w.name(key);
      for (const item of value) {
        w.u8(Element.ListItem);
        w.value(item);
      }
      w.u8(Element.ListEnd);
    } else {
      w.u8(Element.SectionStart);
      w.name(key);
      writeMessage(w, value);
      w.u8(Element.SectionEnd);
    }
  }
}

export function encodeMessage(msg: ViciMessage): Uint8Array {
  const w = new Writer();
  writeMessage(w, msg);
  return new Uint8Array(w.bytes);
}

export function decodeMessage(bytes: Uint8Array): ViciMessage {
  let pos = 0;
  const u8 = () => {
    if (pos >= bytes.length) throw new Error("vici message truncated");
    return bytes[pos++];
  };
  const take = (n: number) => {
    if (pos + n > bytes.length) throw new Error("vici message truncated");
    const s = decoder.decode(bytes.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const name = () => take(u8());
  const value = () => take((u8() << 8) | u8());

  const root: ViciMessage = {};
  const stack: ViciMessage[] = [root];
  let list: string[] | undefined;
  while (pos < bytes.length) {
    const top = stack[stack.length - 1];
    switch (u8()) {
      case Element.SectionStart: {
        const section: ViciMessage = {};
        top[name()] = section;
        stack.push(section);
        break;
      }
      case Element.SectionEnd:
        if (stack.length === 1) throw new Error("vici section end without start");
        stack.pop();
        break;
      case Element.KeyValue: {
        const key = name();
        top[key] = value();
        break;
      }
      case Element.ListStart:
        list = [];
        top[name()] = list;
        break;
      case Element.ListItem:
        if (!list) throw new Error("vici list item outside a list");
        list.push(value());
        break;
      case Element.ListEnd:
        list = undefined;
        break;
      default:
        throw new Error("vici message has an unknown element");
    }
  }
  return root;
}

export function encodePacket(type: number, name?: string, msg?: ViciMessage): Uint8Array {
  const w = new Writer();
  w.u8(type);
  if (name !== undefined) w.name(name);
  const body = msg ? encodeMessage(msg) : new Uint8Array();
  const packet = new Uint8Array(4 + w.bytes.length + body.length);
  new DataView(packet.buffer).setUint32(0, w.bytes.length + body.length);
  packet.set(w.bytes, 4);
  packet.set(body, 4 + w.bytes.length);
  return packet;
}

interface RawPacket {
  type: number;
  name?: string;
  message: ViciMessage;
}

/** How long one vici exchange may take unless the caller says otherwise. */
export const VICI_TIMEOUT_MS = 5000;
/** charon's own limit is 512 KiB; a packet claiming more is not charon's. */
const MAX_PACKET = 1 << 20;

export class ViciTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`charon did not answer ${what} within ${ms} ms`);
    this.name = "ViciTimeout";
  }
}

/** Rejects after ms (calling onTimeout first) unless p settles. */
async function withDeadline<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  onTimeout: () => void,
): Promise<T> {
  let cancel = () => {};
  const timeout = new Promise<never>((_, reject) => {
    cancel = after(ms, () => {
      onTimeout();
      reject(new ViciTimeout(what, ms));
    });
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    cancel();
  }
}

export class ViciClient {
  #conn: Deno.UnixConn;
  /** Received bytes not yet consumed: #buffer[#start, #end). */
  #buffer = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  /** Connects within timeoutMs (a stopped charon's socket can accept and then say nothing). */
  static async connect(path: string, timeoutMs = VICI_TIMEOUT_MS): Promise<ViciClient> {
    const pending = Deno.connect({ transport: "unix", path });
    // A connection that completes after the deadline is closed, not leaked.
    const conn = await withDeadline(pending, timeoutMs, "connect", () => {
      pending.then((c) => c.close(), () => {});
    });
    return new ViciClient(conn);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /** Makes at least n unconsumed bytes available, reading into one buffer grown as needed. */
  async #fill(n: number): Promise<void> {
    if (this.#start + n > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(this.#buffer.length, n * 2));
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buffer = grown;
    }
    while (this.#end - this.#start < n) {
      const got = await this.#conn.read(this.#buffer.subarray(this.#end));
      if (got === null) throw new Error("vici socket closed by charon");
      this.#end += got;
    }
  }

  async #readPacket(): Promise<RawPacket> {
    await this.#fill(4);
    const length = new DataView(this.#buffer.buffer, this.#start, 4).getUint32(0);
    if (length === 0 || length > MAX_PACKET) {
      throw new Error(`vici packet of ${length} bytes is not one charon sends`);
    }
    this.#start += 4;
    await this.#fill(length);
    const body = this.#buffer.subarray(this.#start, this.#start + length);
    this.#start += length;
    const type = body[0];
    let pos = 1;
    let name: string | undefined;
    if (type === Packet.Event) {
      const len = body[1];
      name = decoder.decode(body.subarray(2, 2 + len));
      pos = 2 + len;
    }
    return { type, name, message: decodeMessage(body.subarray(pos)) };
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /**
   * Sends a command and returns its response, within timeoutMs (then the
   * connection is closed). With events, registers for each first and hands
   * every event that arrives before the response to onEvent (list-sas
   * streams its SAs this way, initiate its log). Registrations, command and
   * unregistrations go out in one write: charon handles a connection's
   * packets in order, so the whole exchange is one round trip.
   */
  async request(
    command: string,
    msg: ViciMessage = {},
    events: string[] = [],
    onEvent: (name: string, msg: ViciMessage) => void = () => {},
    timeoutMs = VICI_TIMEOUT_MS,
  ): Promise<ViciMessage> {
    return await withDeadline(
      this.#exchange(command, msg, events, onEvent),
      timeoutMs,
      command,
      () => this.close(),
    );
  }

  async #exchange(
    command: string,
    msg: ViciMessage,
    events: string[],
    onEvent: (name: string, msg: ViciMessage) => void,
  ): Promise<ViciMessage> {
    const packets = [
      ...events.map((e) => encodePacket(Packet.EventRegister, e)),
      encodePacket(Packet.CmdRequest, command, msg),
      ...events.map((e) => encodePacket(Packet.EventUnregister, e)),
    ];
    const all = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
    packets.reduce((off, p) => (all.set(p, off), off + p.length), 0);
    await this.#write(all);

    const unexpected = (p: RawPacket, what: string) => {
      if (p.type === Packet.CmdUnknown) {
        return new Error(`charon does not know vici command ${what}`);
      }
      if (p.type === Packet.EventUnknown) {
        return new Error(`charon does not know vici event ${what}`);
      }
      return new Error(`unexpected vici packet ${p.type} for ${what}`);
    };
    for (const event of events) {
      const p = await this.#readPacket();
      if (p.type !== Packet.EventConfirm) throw unexpected(p, event);
    }
    let response: ViciMessage;
    for (;;) {
      const p = await this.#readPacket();
      if (p.type === Packet.Event) onEvent(p.name!, p.message);
      else if (p.type === Packet.CmdResponse) {
        response = p.message;
        break;
      } else throw unexpected(p, command);
    }
    for (const event of events) {
      // Events already queued may arrive before the confirmation.
      for (;;) {
        const p = await this.#readPacket();
        if (p.type === Packet.EventConfirm) break;
        if (p.type === Packet.Event) onEvent(p.name!, p.message);
        else throw unexpected(p, `unregistering ${event}`);
      }
    }
    return response;
  }
}

/** Raises the errmsg of a response whose success is not "yes". */
export function assertSuccess(command: string, response: ViciMessage): void {
  if (response.success !== "yes") {
    throw new Error(`vici ${command} failed: ${response.errmsg ?? "no reason given"}`);
  }
}
