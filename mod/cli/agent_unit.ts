/**
 * The node agent's systemd unit, which `install --agent` writes. The pods'
 * strongSwan daemons run in sessions of their own under the agent: the unit
 * must not end them with it (KillMode=process).
 */

import { safePath } from "../ipsec/config.ts";

export const AGENT_UNIT = "strongswan-cni-agent.service";
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";

/** The unit for the plugin at path (pure; a path systemd could misread is refused). */
export function agentUnit(plugin: string): string {
  return `# Written by \`strongswan install --agent\`: the strongswan CNI plugin's node agent.
[Unit]
Description=strongswan CNI node agent (serves this node's CNI calls)
After=network.target

[Service]
ExecStart=${safePath(plugin)} agent
# The pods' strongSwan daemons outlive the agent: a restart must not end them.
KillMode=process
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`;
}
