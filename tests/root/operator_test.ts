/**
 * What an operator sees: a line per command in the config's logFile (the
 * container, the Kubernetes pod, the outcome, the time), and pods named by
 * namespace and name on the node (`status`) and on the hub (`status --hub`).
 */

import assert from "node:assert/strict";
import { Code } from "../../mod/cni/errors.ts";
import { assertCniError, assertOk, labTest, vipOf } from "./support.ts";

labTest(
  "operator: every command leaves one line in logFile; pods are named by namespace and name on node and hub",
  { nodes: 1 },
  async (lab) => {
    const pod = await lab.pod(1, "web");
    pod.cniArgs = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0";
    const added = await lab.add(pod);
    assertOk(added);
    const failing = await lab.pod(1, "down");
    assertCniError(
      await lab.add(failing, lab.config(1, { vpn: { serverIP: "10.9.0.99", timeout: 1 } })),
      Code.TryAgainLater,
    );

    const lines = (await Deno.readTextFile(`${lab.dir}/cni.log`)).trim().split("\n");
    // The line of the ADD (VERSION, which a runtime may call first, leaves none).
    const ok = lines.find((l) => l.includes(`container=${pod.containerId}`) && l.includes(" ADD "));
    assert.match(
      ok ?? "",
      new RegExp(
        `^\\S+Z info ADD ok \\d+ms network=${lab.network} container=${pod.containerId} if=eth0 pod=shop/web-0 vip=${
          vipOf(added).replaceAll(".", "\\.")
        }/32$`,
      ),
    );
    const failed = lines.find((l) => l.includes(`container=${failing.containerId}`));
    assert.match(
      failed ?? "",
      /error ADD failed \d+ms code=11 "hub 10\.9\.0\.99 did not complete IKE/,
    );

    const node = await lab.cli(1, "status", "--network", lab.network, "--json");
    const row = (JSON.parse(node.stdout) as { containerId: string; pod?: string }[])
      .find((r) => r.containerId === pod.containerId);
    assert.equal(row?.pod, "shop/web-0");
    const hub = await lab.cli(0, "status", "--hub", "--vici-socket", lab.hubViciSocket());
    assert.match(
      hub.stdout,
      new RegExp(`shop/web-0/eth0@${pod.containerId}\\s+${vipOf(added).replaceAll(".", "\\.")}`),
    );

    assertOk(await lab.del(pod));
    const after = await Deno.readTextFile(`${lab.dir}/cni.log`);
    assert.match(
      after,
      new RegExp(
        `info DEL ok \\d+ms network=${lab.network} container=${pod.containerId} if=eth0 pod=shop/web-0`,
      ),
    );
  },
);
