import assert from "node:assert/strict";
import { decodeResult, encodeResult, type Result } from "../../mod/cni/result.ts";
import { CniError, Code } from "../../mod/cni/errors.ts";

const result: Result = {
  interfaces: [
    { name: "docker0", mac: "aa:bb:cc:dd:ee:ff" },
    { name: "veth1", mac: "02:00:00:00:00:01" },
    { name: "eth0", mac: "02:00:00:00:00:02", sandbox: "/run/netns/p" },
  ],
  ips: [
    { address: "10.173.0.2/32", interface: 2 },
    { address: "172.17.0.2/16", gateway: "172.17.0.1", interface: 2 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "172.17.0.1" }, { dst: "10.173.0.0/16" }],
  dns: { nameservers: ["10.0.0.10"] },
};

Deno.test("result 1.x: interfaces, ips with index, no version field", () => {
  for (const v of ["1.0.0", "1.1.0"]) {
    const out = encodeResult(result, v);
    assert.equal(out.cniVersion, v);
    assert.deepEqual(out.interfaces, result.interfaces);
    assert.deepEqual(out.ips, result.ips);
    assert.deepEqual(out.routes, result.routes);
    assert.deepEqual(out.dns, result.dns);
  }
});

Deno.test("result 0.3.x/0.4.0: ips carry version 4", () => {
  for (const v of ["0.3.0", "0.3.1", "0.4.0"]) {
    const ips = encodeResult(result, v).ips as Record<string, unknown>[];
    assert.deepEqual(ips[0], { version: "4", address: "10.173.0.2/32", interface: 2 });
    assert.equal(ips[1].gateway, "172.17.0.1");
  }
});

Deno.test("result 0.1/0.2: ip4 holds the first address (the virtual IP) and the routes", () => {
  for (const v of ["0.1.0", "0.2.0"]) {
    const out = encodeResult(result, v);
    assert.equal(out.interfaces, undefined);
    assert.equal(out.ips, undefined);
    assert.deepEqual(out.ip4, { ip: "10.173.0.2/32", routes: result.routes });
    assert.equal(out.ip6, undefined);
  }
});

Deno.test("result: empty dns is left out", () => {
  assert.equal(encodeResult({ ...result, dns: {} }, "1.0.0").dns, undefined);
});

Deno.test("result: decode of each family gives back the addresses and routes", () => {
  for (const v of ["0.2.0", "0.4.0", "1.1.0"]) {
    const back = decodeResult(encodeResult(result, v), v);
    assert.equal(back.ips[0].address, "10.173.0.2/32");
    assert.deepEqual(back.routes, result.routes);
  }
  const full = decodeResult(encodeResult(result, "1.0.0"), "1.0.0");
  assert.deepEqual(full, result);
});

Deno.test("result: host-local's 0.2.0 answer decodes", () => {
  const r = decodeResult(
    { cniVersion: "0.2.0", ip4: { ip: "172.17.0.5/16", gateway: "172.17.0.1" }, dns: {} },
    "0.1.0",
  );
  assert.deepEqual(r.ips, [{ address: "172.17.0.5/16", gateway: "172.17.0.1" }]);
});

Deno.test("result: garbage is code 6", () => {
  for (const bad of [null, [], "x", { ips: "no" }, { ips: [{ address: 5 }] }]) {
    assert.throws(
      () => decodeResult(bad, "1.0.0"),
      (e: unknown) => e instanceof CniError && e.code === Code.DecodeFailed,
    );
  }
});

Deno.test("result: an IPAM answer that smuggles batch syntax is refused, naming the field", () => {
  const attacks: [Record<string, unknown>, RegExp][] = [
    [
      {
        ips: [{ address: "172.17.0.5/16" }],
        routes: [{ dst: '10.99.0.0/16 dev eth0\nnetns exec p /bin/sh -c "id"\n#' }],
      },
      /routes\[0\]\.dst "10\.99\.0\.0\/16 dev eth0\\nnetns.*is not an IP address with a prefix/,
    ],
    [{ ips: [{ address: "172.17.0.5/16 dev lo" }] }, /ips\[0\]\.address/],
    [{ ips: [{ address: "172.17.0.5/16", gateway: "172.17.0.1 onlink" }] }, /ips\[0\]\.gateway/],
    [
      { ips: [{ address: "172.17.0.5/16" }], routes: [{ dst: "0.0.0.0/0", gw: "1.2.3.4#" }] },
      /routes\[0\]\.gw/,
    ],
    [{ cniVersion: "0.2.0", ip4: { ip: "1.2.3.4/8\nx" } }, /ip4\.address/],
    [{ ips: [{ address: "172.17.0.5/16", interface: -1 }] }, /ips\[0\]\.interface/],
  ];
  for (const [raw, field] of attacks) {
    assert.throws(
      () => decodeResult(raw, "1.0.0", 'IPAM plugin "x" result', Code.IpamFailed),
      (e: unknown) => e instanceof CniError && e.code === Code.IpamFailed && field.test(e.message),
      JSON.stringify(raw),
    );
  }
});

Deno.test("result: addresses come back as the canonical text of what was parsed", () => {
  const r = decodeResult({
    ips: [{ address: "172.17.0.5/16" }, { address: "FD00:0:0::1/64", gateway: "fd00::0:1" }],
    routes: [{ dst: "0.0.0.0/0", gw: "" }],
  }, "1.0.0");
  assert.deepEqual(r.ips, [{ address: "172.17.0.5/16" }, {
    address: "fd00::1/64",
    gateway: "fd00::1",
  }]);
  assert.deepEqual(r.routes, [{ dst: "0.0.0.0/0" }]);
});

Deno.test("result: an IPv4 address with leading zeros is refused, not reinterpreted", () => {
  assert.throws(
    () => decodeResult({ ips: [{ address: "172.017.0.5/16" }] }, "1.0.0"),
    (e: unknown) => e instanceof CniError && /ips\[0\]\.address/.test(e.message),
  );
});
