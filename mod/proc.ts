/** What /proc says about processes. */

export interface ProcStat {
  /** R, S, D, Z, ... */
  state: string;
  parent: number;
  /** With the pid, names one process for the life of the boot. */
  startTime: string;
}

/** Fields of /proc/PID/stat after "(comm)", which may itself hold spaces and parentheses. */
function parseStat(text: string): ProcStat {
  // State is field 3, the parent's pid field 4, starttime field 22.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], parent: Number(fields[1]), startTime: fields[19] };
}

export function procStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return undefined;
  }
}

/**
 * The process and everything below it now, each with its start time, so a
 * pid reused later is not taken for one of them. Synchronous: it runs only
 * when a deadline passes.
 */
export function processTree(root: number): { pid: number; startTime: string }[] {
  const children = new Map<number, { pid: number; startTime: string }[]>();
  let top: { pid: number; startTime: string } | undefined;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: ProcStat;
    try {
      stat = parseStat(Deno.readTextFileSync(`/proc/${entry.name}/stat`));
    } catch {
      continue; // Gone meanwhile.
    }
    const proc = { pid: Number(entry.name), startTime: stat.startTime };
    if (proc.pid === root) top = proc;
    children.set(stat.parent, [...(children.get(stat.parent) ?? []), proc]);
  }
  if (!top) return [];
  const tree = [top];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i].pid) ?? []));
  return tree;
}

/** Whether the pid still names the process that had startTime. */
export function sameProcess(pid: number, startTime: string): boolean {
  try {
    return parseStat(Deno.readTextFileSync(`/proc/${pid}/stat`)).startTime === startTime;
  } catch {
    return false;
  }
}
