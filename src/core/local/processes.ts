// Detached child processes for the local stack: started in their own process group with output to a
// log file, so they outlive the CLI that started them and can be stopped later by pid alone.
// Liveness is checked through /proc where it exists, so a zombie or a reused pid is not taken for
// one of ours.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';

const HAS_PROC = existsSync('/proc/self/stat');

export interface DetachedSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stdout and stderr are appended here. */
  logPath: string;
}

/** Starts a process in its own process group (pgid = pid), stdio to the log file; returns its pid. */
export function spawnDetached(spec: DetachedSpec): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd = openSync(spec.logPath, 'a');
    try {
      const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', fd, fd] });
      child.once('error', reject);
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(fd);
    }
  });
}

/** Whether the pid is a running process (not gone, not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!HAS_PROC) return true;
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return false;
  return processState(stat) !== 'Z';
}

/** The process's command line, or undefined where /proc is unavailable or the process is gone. */
export function commandLine(pid: number): string | undefined {
  const text = readProc(pid, 'cmdline');
  return text === undefined ? undefined : text.split('\0').filter(Boolean).join(' ');
}

/**
 * Whether the pid is alive and still runs the program we started (`marker` in its command line).
 * Guards against signalling an unrelated process that got a recycled pid.
 */
export function isOurs(pid: number, marker: string): boolean {
  if (!isAlive(pid)) return false;
  const cmd = commandLine(pid);
  return cmd === undefined ? true : cmd.includes(marker);
}

/** Live (non-zombie) members of a process group. Without /proc: the leader alone, if alive. */
export function groupMembers(pgid: number): number[] {
  if (!HAS_PROC) return isAlive(pgid) ? [pgid] : [];
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProc(Number(entry), 'stat');
    if (stat === undefined) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: state, ppid, pgrp, ...
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
  }
  return members;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      /* already gone */
    }
  }
}

export interface StopOutcome {
  pid: number;
  /** true when SIGTERM was not enough and the group got SIGKILL. */
  killed: boolean;
  /** true when nothing of the group is left. */
  gone: boolean;
}

/**
 * SIGTERM to the whole process group (the runtime drains on it), then SIGKILL for whatever is still
 * there after graceMs. Only call it for a pid that `isOurs` vouched for.
 */
export async function stopGroup(pgid: number, graceMs: number, sleep: (ms: number) => Promise<void> = delay): Promise<StopOutcome> {
  if (groupMembers(pgid).length === 0) return { pid: pgid, killed: false, gone: true };
  signalGroup(pgid, 'SIGTERM');
  const termDeadline = Date.now() + graceMs;
  while (Date.now() < termDeadline) {
    if (groupMembers(pgid).length === 0) return { pid: pgid, killed: false, gone: true };
    await sleep(100);
  }
  signalGroup(pgid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (Date.now() < killDeadline) {
    if (groupMembers(pgid).length === 0) return { pid: pgid, killed: true, gone: true };
    await sleep(50);
  }
  return { pid: pgid, killed: true, gone: groupMembers(pgid).length === 0 };
}

/** A free TCP port on 127.0.0.1 (the OS picks it; a tiny race with other programs is accepted). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The last lines of a log file, for error messages. */
export function tailOf(path: string, lines = 20): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log yet)';
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function processState(stat: string): string {
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}
