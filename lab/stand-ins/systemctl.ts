/**
 * Emulated `systemctl` for the lab's units: start|stop|restart|is-active|status|daemon-reload
 * (enable/disable accepted). It re-reads /etc/systemd/system/<unit>.service on every start, runs
 * ExecStart's argv (no shell, like systemd) in its own session and keeps the pid in the node's run
 * folder. Exit codes follow systemd's: is-active 0 active / 3 inactive, 5 unit not found.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_DIR, NODE } from '../shared/common.js';
import { isAlive, READY_FILE_ENV, spawnDetached, splitWords, stopPid } from './procs.js';

const UNIT_DIR = '/etc/systemd/system';
const runDir = join(LAB_DIR, 'nodes', NODE, 'run', 'units');
const logDir = join(LAB_DIR, 'nodes', NODE, 'logs');

function unitName(u: string): string {
  return u.includes('.') ? u : `${u}.service`;
}

interface UnitFile {
  execStart: string[];
  env: Record<string, string>;
}

/**
 * A unit as systemd reads it (systemd.service(5), systemd.exec(5)): ExecStart= split into words;
 * Environment= assignments; EnvironmentFile= files ("-" prefix: may be missing) read as
 * KEY=VALUE lines, overriding Environment=; in ExecStart, `$VAR` becomes that variable's words
 * and `${VAR}` one word (kubespray's kubelet.service runs `kubelet $KUBELET_ARGS ...`).
 */
export function parseUnit(text: string, readFile: (path: string) => string | undefined = readIfExists): UnitFile {
  const joined = text.replace(/\\\r?\n/g, ' ');
  let execLine = '';
  const env: Record<string, string> = {};
  const files: string[] = [];
  let section = '';
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) section = line;
    if (section !== '[Service]') continue;
    if (line.startsWith('ExecStart=')) execLine = line.slice('ExecStart='.length).replace(/^[-@+!:]+/, '');
    if (line.startsWith('Environment=')) {
      for (const w of splitWords(line.slice('Environment='.length))) {
        const eq = w.indexOf('=');
        if (eq > 0) env[w.slice(0, eq)] = w.slice(eq + 1);
      }
    }
    if (line.startsWith('EnvironmentFile=')) files.push(line.slice('EnvironmentFile='.length).trim().replace(/^-/, ''));
  }
  // Settings from EnvironmentFile= override Environment= ones, later files the earlier (systemd.exec(5)).
  for (const f of files) {
    const text = readFile(f);
    if (text !== undefined) Object.assign(env, parseEnvironmentFile(text));
  }
  return { execStart: expandExecStart(execLine, env), env };
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** KEY=VALUE lines; # and ; comments; a trailing backslash joins the next line; one level of quotes removed. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.replace(/\\\r?\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const value = line.slice(eq + 1).trim();
    env[line.slice(0, eq).trim()] = /^(["']).*\1$/s.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}

function expandExecStart(line: string, env: Record<string, string>): string[] {
  const words: string[] = [];
  for (const w of splitWords(line)) {
    const whole = /^\$(\w+)$/.exec(w);
    if (whole) words.push(...splitWords(env[whole[1]!] ?? ''));
    else words.push(w.replace(/\$\{(\w+)\}/g, (_, k: string) => env[k] ?? ''));
  }
  return words;
}

function pidOf(unit: string): number | undefined {
  try {
    return Number(readFileSync(join(runDir, `${unit}.pid`), 'utf8'));
  } catch {
    return undefined;
  }
}

async function start(unit: string): Promise<number> {
  if (isAlive(pidOf(unit))) return 0;
  const file = join(UNIT_DIR, unit);
  if (!existsSync(file)) {
    console.error(`Failed to start ${unit}: Unit ${unit} not found.`);
    return 5;
  }
  const parsed = parseUnit(readFileSync(file, 'utf8'));
  if (parsed.execStart.length === 0) {
    console.error(`Failed to start ${unit}: Unit ${unit} has no ExecStart= setting.`);
    return 1;
  }
  mkdirSync(runDir, { recursive: true });
  const log = join(logDir, `${unit}.log`);
  const ready = join(runDir, `${unit}.ready`);
  rmSync(ready, { force: true });
  const labComponent = isLabComponent(parsed.execStart[0]!);
  const pid = spawnDetached(parsed.execStart, log, { ...parsed.env, ...(labComponent ? { [READY_FILE_ENV]: ready } : {}) });
  writeFileSync(join(runDir, `${unit}.pid`), String(pid));
  // A unit that dies before it is up (bad flag, missing file) fails `start`, as systemd reports a
  // failed job. The lab's own components say when they are up, as sd_notify(READY=1) tells systemd
  // (docs/lab.md): wait for that, or their exit, up to systemd's DefaultTimeoutStartSec (90 s). A
  // fixed 0.7 s window failed under load (load ~46: a component that could not start had not yet
  // exited). Any other program gets that window (the emulated binary lab started etcd so).
  const deadline = Date.now() + (labComponent ? 90_000 : 700);
  while (Date.now() < deadline && isAlive(pid) && !(labComponent && existsSync(ready))) await new Promise((r) => setTimeout(r, 50));
  if (!isAlive(pid)) {
    rmSync(join(runDir, `${unit}.pid`), { force: true });
    const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
    console.error(`Job for ${unit} failed because the control process exited with error code.\n${tail}`);
    return 1;
  }
  if (labComponent && !existsSync(ready)) {
    await stopPid(pid);
    rmSync(join(runDir, `${unit}.pid`), { force: true });
    console.error(`Job for ${unit} failed because a timeout was exceeded.`);
    return 1;
  }
  return 0;
}

/** An ExecStart program that is one of the lab's stand-ins (its wrapper script names the bundle: lab/stand-ins-bundle.ts). */
function isLabComponent(program: string): boolean {
  try {
    return readFileSync(program, 'utf8').slice(0, 512).includes('.lab-stand-ins.mjs');
  } catch {
    return false;
  }
}

async function stop(unit: string): Promise<number> {
  const pid = pidOf(unit);
  if (pid) await stopPid(pid);
  rmSync(join(runDir, `${unit}.pid`), { force: true });
  return 0;
}

/** Splits systemctl's options from its verb and units (-p/--property take a value). */
function parseArgs(argv: string[]): { positional: string[]; properties: string[]; quiet: boolean; valueOnly: boolean } {
  const positional: string[] = [];
  const properties: string[] = [];
  let quiet = false;
  let valueOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-p' || a === '--property') properties.push(...(argv[++i] ?? '').split(','));
    else if (a.startsWith('--property=')) properties.push(...a.slice('--property='.length).split(','));
    else if (a.startsWith('-p') && a.length > 2) properties.push(...a.slice(2).split(','));
    else if (a === '-n' || a === '--lines' || a === '-o' || a === '--output' || a === '-t' || a === '--type') i++;
    else if (a === '-q' || a === '--quiet') quiet = true;
    else if (a === '--value') valueOnly = true;
    else if (!a.startsWith('-')) positional.push(a);
  }
  return { positional, properties, quiet, valueOnly };
}

export async function systemctlMain(argv: string[]): Promise<number> {
  const { positional, properties, quiet, valueOnly } = parseArgs(argv);
  const [verb, ...units] = positional;
  const names = units.map(unitName);
  switch (verb) {
    case 'daemon-reload':
    case 'enable':
    case 'disable':
    case 'reset-failed':
      return 0;
    case 'start':
      for (const u of names) { const rc = await start(u); if (rc) return rc; }
      return 0;
    case 'stop':
      for (const u of names) await stop(u);
      return 0;
    case 'restart':
      for (const u of names) { await stop(u); const rc = await start(u); if (rc) return rc; }
      return 0;
    case 'is-active': {
      let rc = 0;
      for (const u of names) {
        const active = isAlive(pidOf(u));
        if (!quiet) console.log(active ? 'active' : 'inactive');
        if (!active) rc = 3;
      }
      return rc;
    }
    case 'status': {
      let rc = 0;
      for (const u of names) {
        const pid = pidOf(u);
        const active = isAlive(pid);
        if (!existsSync(join(UNIT_DIR, u))) { console.error(`Unit ${u} could not be found.`); return 4; }
        console.log(`● ${u}\n     Loaded: loaded (${join(UNIT_DIR, u)}; enabled)\n     Active: ${active ? 'active (running)' : 'inactive (dead)'}${active ? `\n   Main PID: ${pid}` : ''}`);
        if (!active) rc = 3;
      }
      return rc;
    }
    case 'show': {
      for (const u of names) {
        const pid = pidOf(u);
        const active = isAlive(pid);
        const all: Record<string, string> = {
          Id: u,
          MainPID: String(active ? pid : 0),
          ExecMainPID: String(active ? pid : 0),
          ActiveState: active ? 'active' : 'inactive',
          SubState: active ? 'running' : 'dead',
          LoadState: existsSync(join(UNIT_DIR, u)) ? 'loaded' : 'not-found',
          FragmentPath: existsSync(join(UNIT_DIR, u)) ? join(UNIT_DIR, u) : '',
        };
        const wanted = properties.length > 0 ? properties : Object.keys(all);
        for (const p of wanted) console.log(valueOnly ? (all[p] ?? '') : `${p}=${all[p] ?? ''}`);
      }
      return 0;
    }
    case 'list-units': {
      const files = existsSync(runDir) ? readdirSync(runDir).filter((f) => f.endsWith('.pid')) : [];
      for (const f of files) {
        const u = f.slice(0, -4);
        if (isAlive(pidOf(u))) console.log(`${u} loaded active running`);
      }
      return 0;
    }
    default:
      console.error(`systemctl (kcarun lab): unsupported verb ${verb ?? '(none)'}`);
      return 1;
  }
}
