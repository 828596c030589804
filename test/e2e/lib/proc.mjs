// Child processes that never outlive the harness: every long-lived child runs in its own process group, and on
// stop (or on exit, or on SIGINT/SIGTERM) the group and every descendant found under /proc are killed. Descendants
// matter because node-pty puts terminal shells in their own sessions, out of reach of a process-group kill.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const live = new Set();

/** All descendant pids of `root` (from /proc/<pid>/stat), deepest last. */
export function descendants(root) {
  const children = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const out = [];
  const walk = (pid) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

function killTree(child, signal) {
  const pids = descendants(child.pid);
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* group already gone */
  }
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
  return pids;
}

/** spawn() in a new process group, tracked so that it is killed when the harness exits. */
export function spawnTracked(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { ...opts, detached: true });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

/** SIGTERM the child's tree, then SIGKILL whatever is left after `graceMs`. */
export async function stopTracked(child, graceMs = 4000) {
  if (!child) return;
  const exited = child.exitCode !== null || child.signalCode !== null;
  const pids = exited ? descendants(child.pid) : killTree(child, 'SIGTERM');
  if (!exited) {
    await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, graceMs))]);
  }
  for (const pid of [child.pid, ...pids]) {
    try {
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  live.delete(child);
}

function killAllNow() {
  for (const child of live) killTree(child, 'SIGKILL');
  live.clear();
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAllNow();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

/** Run a command to completion; resolve { code, stdout, stderr }; reject with the output when it fails. */
export function run(cmd, args, opts = {}) {
  const { allowFail = false, timeoutMs = 300_000, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => void stopTracked(child, 500), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code, signal, stdout, stderr };
      if (code === 0 || allowFail) resolve(res);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}\n${(stdout + stderr).slice(-4000)}`));
    });
  });
}
