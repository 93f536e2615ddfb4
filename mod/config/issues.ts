/**
 * Schema problems in the plugin's own words, one per field, each named by
 * its path (and, for a file, its line and column). Values are never echoed:
 * one of them may be the PSK.
 */

import type * as z from "zod/mini";

type Issue = z.core.$ZodIssue;
export type Path = (string | number)[];

/** Every key the schema knows, per object path, for "did you mean". */
export const KNOWN_KEYS: Record<string, string[]> = {
  "": [
    "cniVersion",
    "name",
    "type",
    "vpn",
    "bridge",
    "isGateway",
    "isDefaultGateway",
    "forceAddress",
    "ipMasq",
    "mtu",
    "hairpinMode",
    "promiscMode",
    "ipam",
    "ipamTimeout",
    "dns",
    "logFile",
    "logLevel",
  ],
  vpn: [
    "serverIP",
    "serverIdentity",
    "virtualSubnet",
    "hostSubnet",
    "PSK",
    "psk",
    "pskFile",
    "datapath",
    "timeout",
  ],
};

/** Why a required field matters, where that helps. */
const REQUIRED_BECAUSE: Record<string, string> = {
  vpn: "this plugin never attaches a pod without IPsec",
  ipam: "the pod's bridge address comes from IPAM",
};

const KIND: Record<string, string> = {
  string: "text in quotes",
  boolean: "true or false",
  number: "a number",
  int: "a whole number",
  object: "an object { ... }",
  array: "a list [ ... ]",
};

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** The known key a typo most likely meant, if one is close enough. */
export function didYouMean(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

export function pathText(path: Path): string {
  return path.length ? path.map(String).join(".") : "(top level)";
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

interface Problem {
  path: Path;
  message: string;
}

function describe(issue: Issue, input: unknown): Problem[] {
  const path = issue.path as Path;
  switch (issue.code) {
    case "invalid_type": {
      if (valueAt(input, issue.path) === undefined) {
        const because = REQUIRED_BECAUSE[pathText(path)];
        return [{ path, message: `is required${because ? `: ${because}` : ""}` }];
      }
      return [{ path, message: `must be ${KIND[issue.expected] ?? issue.expected}` }];
    }
    case "unrecognized_keys":
      return issue.keys.map((key) => {
        const suggestion = didYouMean(
          key,
          KNOWN_KEYS[pathText(path).replace("(top level)", "")] ?? [],
        );
        return {
          path: [...path, key],
          message: `is not a setting this plugin knows${
            suggestion ? `; did you mean ${suggestion}?` : ""
          }`,
        };
      });
    case "invalid_value":
      return [{ path, message: `must be one of ${issue.values.map(String).join(", ")}` }];
    case "too_small":
      return [{
        path,
        message: issue.origin === "number"
          ? `must be ${issue.inclusive ? "at least" : "more than"} ${issue.minimum}`
          : "must not be empty",
      }];
    case "too_big":
      return [{ path, message: `must be at most ${issue.maximum}` }];
    default:
      return [{ path, message: issue.message }];
  }
}

/**
 * All problems, one per line-like clause ("vpn.serverIP: must be ..."), with
 * "(line L, column C)" when locate knows where a path is in the source.
 */
export function describeIssues(
  issues: Issue[],
  input: unknown,
  locate?: (path: Path) => string | undefined,
): string {
  return issues
    .flatMap((issue) => describe(issue, input))
    .map(({ path, message }) => {
      const where = locate?.(path);
      return `${pathText(path)}${where ? ` (${where})` : ""}: ${message}`;
    })
    .join("; ");
}
