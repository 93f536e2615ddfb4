/** The pure work on the ADD path: parsing the config, encoding vici and results. */

import { encodeResult } from "../mod/cni/result.ts";
import { parseNetConf } from "../mod/config/load.ts";
import { podConnection } from "../mod/ipsec/config.ts";
import { decodeMessage, encodeMessage } from "../mod/ipsec/vici.ts";

const seed = await Deno.readTextFile(new URL("../conf/10-strongswan.jsonc", import.meta.url));
const conf = await parseNetConf(seed);
const plain = JSON.stringify(conf.raw);
const connection = podConnection(conf, "0123456789abcdef.eth0");
const result = {
  interfaces: [{ name: "docker0" }, { name: "veth0" }, { name: "eth0", sandbox: "/run/netns/p" }],
  ips: [{ address: "10.173.0.2/32", interface: 2 }, { address: "172.17.0.2/16", interface: 2 }],
  routes: [{ dst: "0.0.0.0/0", gw: "172.17.0.1" }],
  dns: {},
};

Deno.bench("config: parse and validate the seed's commented config", async () => {
  await parseNetConf(seed);
});

Deno.bench("config: parse and validate it as plain JSON (what runtimes send)", async () => {
  await parseNetConf(plain);
});

Deno.bench("vici: encode and decode the pod's load-conn message", () => {
  decodeMessage(encodeMessage(connection));
});

Deno.bench("result: encode for 1.0.0 and 0.2.0", () => {
  encodeResult(result, "1.0.0");
  encodeResult(result, "0.2.0");
});
