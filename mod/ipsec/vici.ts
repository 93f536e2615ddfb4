/**
 * A minimal client for strongSwan's vici protocol (its README in
 * src/libcharon/plugins/vici): length-prefixed packets over a unix socket,
 * messages of sections, key/values and lists.
 */

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

export class ViciClient {
  #conn: Deno.UnixConn;
  #buffer = new Uint8Array(0);

  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  static async connect(path: string): Promise<ViciClient> {
    return new ViciClient(await Deno.connect({ transport: "unix", path }));
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async #readExact(n: number): Promise<Uint8Array> {
    while (this.#buffer.length < n) {
      const chunk = new Uint8Array(64 * 1024);
      const got = await this.#conn.read(chunk);
      if (got === null) throw new Error("vici socket closed by charon");
      const merged = new Uint8Array(this.#buffer.length + got);
      merged.set(this.#buffer);
      merged.set(chunk.subarray(0, got), this.#buffer.length);
      this.#buffer = merged;
    }
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  async #readPacket(): Promise<RawPacket> {
    const header = await this.#readExact(4);
    const length = new DataView(header.buffer).getUint32(0);
    const body = await this.#readExact(length);
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

  async #expect(type: number, what: string): Promise<RawPacket> {
    const p = await this.#readPacket();
    if (p.type === Packet.CmdUnknown) throw new Error(`charon does not know vici command ${what}`);
    if (p.type === Packet.EventUnknown) throw new Error(`charon does not know vici event ${what}`);
    if (p.type !== type) throw new Error(`unexpected vici packet ${p.type} for ${what}`);
    return p;
  }

  /**
   * Sends a command and returns its response. With events, registers for
   * each named event first and hands every event that arrives before the
   * response to onEvent (list-sas streams its SAs this way, initiate its log).
   */
  async request(
    command: string,
    msg: ViciMessage = {},
    events: string[] = [],
    onEvent: (name: string, msg: ViciMessage) => void = () => {},
  ): Promise<ViciMessage> {
    for (const event of events) {
      await this.#write(encodePacket(Packet.EventRegister, event));
      await this.#expect(Packet.EventConfirm, event);
    }
    await this.#write(encodePacket(Packet.CmdRequest, command, msg));
    let response: ViciMessage;
    for (;;) {
      const p = await this.#readPacket();
      if (p.type === Packet.Event) {
        onEvent(p.name!, p.message);
      } else if (p.type === Packet.CmdResponse) {
        response = p.message;
        break;
      } else if (p.type === Packet.CmdUnknown) {
        throw new Error(`charon does not know vici command ${command}`);
      } else {
        throw new Error(`unexpected vici packet ${p.type} for ${command}`);
      }
    }
    for (const event of events) {
      await this.#write(encodePacket(Packet.EventUnregister, event));
      // Events already queued may arrive before the confirmation.
      for (;;) {
        const p = await this.#readPacket();
        if (p.type === Packet.EventConfirm) break;
        if (p.type === Packet.Event) onEvent(p.name!, p.message);
        else throw new Error(`unexpected vici packet ${p.type} unregistering ${event}`);
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
