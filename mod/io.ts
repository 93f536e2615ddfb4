/**
 * Whole messages over Deno's plain readers and writers (stdin, stdout, a
 * unix socket). Web streams are avoided: loading them costs a CNI call ~4 ms.
 */

/** A CNI call's stdin: a network config with prevResult, or GC's attachment list, is far smaller. */
export const STDIN_LIMIT = 4 << 20;

export interface Reader {
  read(p: Uint8Array): Promise<number | null>;
}

export interface Writer {
  write(p: Uint8Array): Promise<number>;
}

/**
 * Reads until the end; a message over limit bytes, or one that has not
 * ended when expired resolves, is refused (the string says which).
 */
export async function readMessage(
  reader: Reader,
  limit: number,
  expired: Promise<"timeout"> = new Promise(() => {}),
): Promise<Uint8Array | "too big" | "timeout"> {
  let buffer = new Uint8Array(64 * 1024);
  let size = 0;
  for (;;) {
    if (size === buffer.length) {
      const grown = new Uint8Array(buffer.length * 2);
      grown.set(buffer);
      buffer = grown;
    }
    const got = await Promise.race([reader.read(buffer.subarray(size)), expired]);
    if (got === "timeout") return "timeout";
    if (got === null) return buffer.subarray(0, size);
    size += got;
    if (size > limit) return "too big";
  }
}

export async function writeAll(writer: Writer, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await writer.write(bytes.subarray(off));
}
