/**
 * The vici client's bounds, against unix sockets that misbehave the way a
 * stopped or hostile daemon would (the real stopped charon is a root test).
 */

import assert from "node:assert/strict";
import { ViciClient } from "../../mod/ipsec/vici.ts";

async function withServer(
  serve: (conn: Deno.UnixConn) => Promise<void>,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/vici`;
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.UnixConn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      serve(conn).catch(() => {});
    }
  })();
  try {
    await fn(path);
  } finally {
    listener.close();
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // closed by the client
      }
    }
    await accepting.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("vici: a daemon that accepts and never answers costs the deadline, no more", async () => {
  await withServer(() => new Promise(() => {}), async (path) => {
    const client = await ViciClient.connect(path, 500);
    const started = performance.now();
    await assert.rejects(
      () => client.request("list-sas", {}, ["list-sa"], () => {}, 300),
      /charon did not answer list-sas within 300 ms/,
    );
    assert.ok(performance.now() - started < 2000);
    client.close();
  });
});

Deno.test("vici: a packet claiming 4 GiB is refused before anything is allocated", async () => {
  await withServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
    await conn.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]));
  }, async (path) => {
    const client = await ViciClient.connect(path);
    await assert.rejects(
      () => client.request("version"),
      /4294967295 bytes is not one charon sends/,
    );
    client.close();
  });
});

Deno.test("vici: a response split over many small writes is put together", async () => {
  // CmdResponse with {success: "yes"}: type 1, then key/value "success" = "yes".
  const body = [
    1,
    3,
    7,
    ...new TextEncoder().encode("success"),
    0,
    3,
    ...new TextEncoder().encode("yes"),
  ];
  const packet = [0, 0, 0, body.length, ...body];
  await withServer(async (conn) => {
    await conn.read(new Uint8Array(1024));
    for (const b of packet) await conn.write(new Uint8Array([b]));
  }, async (path) => {
    const client = await ViciClient.connect(path);
    assert.deepEqual(await client.request("version"), { success: "yes" });
    client.close();
  });
});
