/**
 * ADD+DEL of one pod, end to end (root): our plugin through its launcher
 * (`deno run`, as tests exec it) against the Go reference bridge plugin
 * alone. Each iteration builds its own lab outside the timed part and
 * removes it afterwards. Also prints one pod daemon's memory.
 */

import { Lab } from "../lab/lab.ts";
import { callPlugin, REFERENCE_PLUGINS } from "../lab/plugin.ts";
import { attachmentNames } from "../mod/net/names.ts";

const canRun = Deno.uid() === 0;
if (!canRun) console.error("attach benchmarks skipped: they need root (namespaces, daemons)");

async function rssKiB(stateDir: string): Promise<number | undefined> {
  const pid = Number((await Deno.readTextFile(`${stateDir}/run/charon.pid`)).trim());
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
}

let printedRss = false;

Deno.bench({
  name: "strongswan ADD + DEL (bridge, IPAM, charon, IKEv2, virtual IP)",
  group: "attach",
  baseline: true,
  ignore: !canRun,
  n: 5,
  warmup: 1,
  async fn(b) {
    const lab = await Lab.create({ nodes: 1 });
    try {
      const pod = await lab.pod(1, "bench");
      b.start();
      const add = await lab.add(pod);
      const del = await lab.del(pod);
      b.end();
      if (add.code !== 0 || del.code !== 0) throw new Error(`${add.stdout}${del.stdout}`);
      if (!printedRss) {
        const again = await lab.add(pod);
        const names = await attachmentNames(pod.containerId, pod.ifname);
        console.log(
          `one pod's charon: ${await rssKiB(names.stateDir)} KiB RSS; ADD ${
            again.ms.toFixed(0)
          } ms`,
        );
        await lab.del(pod);
        printedRss = true;
      }
    } finally {
      await lab.cleanup();
    }
  },
});

Deno.bench({
  name: "reference bridge ADD + DEL (Go, host-local, no IPsec)",
  group: "attach",
  ignore: !canRun,
  n: 5,
  warmup: 1,
  async fn(b) {
    const lab = await Lab.create({ nodes: 1, hub: false });
    try {
      const pod = await lab.pod(1, "bench");
      const { vpn: _vpn, ...config } = lab.config(1, { type: "bridge" });
      const call = {
        containerId: pod.containerId,
        netns: pod.netns,
        ifname: "eth0",
        path: [REFERENCE_PLUGINS],
        config,
        nodeNetns: lab.nodeNetns(1),
        type: "bridge",
      };
      b.start();
      const add = await callPlugin({ ...call, command: "ADD" });
      const del = await callPlugin({ ...call, command: "DEL" });
      b.end();
      if (add.code !== 0 || del.code !== 0) throw new Error(`${add.stdout}${del.stdout}`);
    } finally {
      await lab.cleanup();
    }
  },
});
