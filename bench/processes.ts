// CPU time and peak memory of the benchmark's processes, read from the OS (/proc), so each part is charged
// for its own work only. Linux only; never signals or changes a process it reads.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

interface Stat {
  ppid: number;
  /** utime + stime of the process (all its threads), ms. */
  ownMs: number;
  /** cutime + cstime: children it has waited for (Postgres backends that exited), ms. */
  reapedMs: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const tick = (index: number) => (Number(fields[index]) * 1000) / TICKS_PER_SECOND;
  return { ppid: Number(fields[1]), ownMs: tick(11) + tick(12), reapedMs: tick(13) + tick(14) };
}

/** CPU used so far by one process (ms); with `tree`, also by its children, living and reaped (Postgres backends). */
export function cpuMs(pid: number, tree = false): number {
  const root = readStat(pid);
  if (!root) return Number.NaN;
  if (!tree) return root.ownMs;
  let total = root.ownMs + root.reapedMs;
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child === pid) continue;
    const stat = readStat(child);
    if (stat?.ppid === pid) total += stat.ownMs + stat.reapedMs;
  }
  return total;
}

/** Peak resident set size (VmHWM) of a process, MiB. */
export function peakRssMiB(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size now (VmRSS) of a process, MiB. */
export function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resets a process's VmHWM to its current RSS (Linux: `5` to clear_refs); false when the kernel refuses. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The 1, 5 and 15 minute load averages: how busy the shared machine was while measuring. */
export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [one ?? Number.NaN, five ?? Number.NaN, fifteen ?? Number.NaN];
}

/** CPU time every process on the machine has used so far, all cores together (ms): the share others take shows in it. */
export function machineBusyMs(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (
    (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / TICKS_PER_SECOND
  );
}

/** Named processes whose CPU is read together before and after a measurement. */
export interface CpuMeter {
  read(): Record<string, number>;
}

export function cpuMeter(processes: Record<string, { pid: number; tree?: boolean }>): CpuMeter {
  return {
    read: () => Object.fromEntries(Object.entries(processes).map(([name, { pid, tree }]) => [name, cpuMs(pid, tree)])),
  };
}

export function cpuSince(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((name) => [name, (after[name] ?? 0) - (before[name] ?? 0)]));
}
