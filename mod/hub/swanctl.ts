/** The hub's connection for the pods (swanctl.conf syntax), from the same NetConf as the pods'. */

import type { NetConf } from "../config/load.ts";
import type { Secret } from "../config/secret.ts";
import { ESP_PROPOSAL, IKE_PROPOSAL } from "../ipsec/config.ts";
import { hubAddressing } from "./addressing.ts";
import { HUB_DPD_DELAY, type HubSettings } from "./settings.ts";

/** The name of the hub's connection, its child and its pool. */
export const HUB_CONNECTION = "pods";

function hex(secret: Secret): string {
  return "0x" +
    Array.from(new TextEncoder().encode(secret.reveal()), (b) => b.toString(16).padStart(2, "0"))
      .join("");
}

/**
 * It holds the PSK (hex, so no quoting rules apply): keep it 0600. With a
 * lease server, addresses come from it (pools = dhcp) and outlive the hub;
 * otherwise from an in-memory pool that a restart forgets.
 */
export function hubSwanctlConf(
  conf: NetConf,
  psk: Secret,
  hub: Pick<HubSettings, "leaseServer">,
): string {
  const { pool } = hubAddressing(conf.vpn);
  const pools = hub.leaseServer ? "dhcp" : HUB_CONNECTION;
  return `# Hub for CNI network "${conf.name}", written by \`strongswan server-config\`.
connections {
  ${HUB_CONNECTION} {
    version = 2
    proposals = ${IKE_PROPOSAL}
    pools = ${pools}
    # One SA per pod identity: a pod that comes back replaces its old SA.
    unique = replace
    # Reclaims the address of a pod that vanished without saying goodbye.
    dpd_delay = ${HUB_DPD_DELAY}
    local {
      auth = psk
      id = ${conf.vpn.serverIdentity}
    }
    remote {
      auth = psk
    }
    children {
      ${HUB_CONNECTION} {
        local_ts = ${conf.vpn.virtualSubnet},${conf.vpn.hostSubnet}
        esp_proposals = ${ESP_PROPOSAL}
        dpd_action = clear
      }
    }
  }
}
${
    hub.leaseServer ? "" : `pools {
  ${HUB_CONNECTION} {
    addrs = ${pool}
  }
}
`
  }secrets {
  ike-${HUB_CONNECTION} {
    secret = ${hex(psk)}
  }
}
`;
}
