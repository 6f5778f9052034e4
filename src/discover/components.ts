/**
 * What a running control-plane component really uses, from what a host shows: its command line and
 * environment (/proc), the static pod manifest or systemd unit that starts it, and the config files
 * it names (etcd --config-file, the kubelet's KubeletConfiguration). Pure: text in, settings out;
 * src/discover/collect.ts does the reading.
 */
import { posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { shellQuote } from '../core/shell.js';

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet'] as const;
export type ComponentName = (typeof COMPONENTS)[number];

/** Where one setting's value lives: the file an editor must change, and the name it has there. */
export interface SettingSource {
  kind:
    | 'manifest-flag' // a static pod manifest's container command/args item: key `--flag`
    | 'unit-flag' // a systemd unit's ExecStart word: key `--flag`
    | 'process-flag' // on the command line, but no manifest or unit was found that holds it
    | 'etcd-config' // etcd --config-file YAML: key is the YAML path, e.g. client-transport-security.trusted-ca-file
    | 'kubelet-config' // KubeletConfiguration YAML: key is the YAML path, e.g. authentication.x509.clientCAFile
    | 'env-file' // a systemd EnvironmentFile: key is the variable name
    | 'unit-environment' // a unit's Environment= line
    | 'process-env'; // in the process environment, origin unknown
  /** Absent for process-flag and process-env (nothing on disk to edit). */
  file?: string;
  key: string;
}

export interface Setting {
  /** The flag name without dashes (etcd's YAML keys and env variables are mapped to it). */
  name: string;
  value: string;
  source: SettingSource;
}

export type RestartMethod =
  | { method: 'static-pod'; container: string }
  | { method: 'systemd'; unit: string }
  /** An init script (OpenRC/SysV /etc/init.d/NAME) or another command of the host's own. */
  | { method: 'command'; command: string }
  | { method: 'unknown' };

export interface ComponentInstance {
  name: ComponentName;
  pid: number;
  argv: string[];
  /**
   * Where its flags live; `init-script` when an /etc/init.d script starts it with them (not edited by
   * kcarun: its settings must then live in a config or environment file); `process` when nothing matched.
   */
  flagsIn: 'manifest' | 'unit' | 'init-script' | 'process';
  /** The manifest, unit file or init script that holds the flags. */
  configFile?: string;
  restart: RestartMethod;
  /** Effective settings by flag name, each with its source (see resolve* for the precedence). */
  settings: Record<string, Setting>;
  /** How precedence was applied, for the report (e.g. "etcd: --config-file wins; flags and ETCD_* ignored"). */
  precedence: string;
  warnings: string[];
}

export interface ProcessInfo {
  pid: number;
  argv: string[];
  env: Record<string, string>;
  /** /proc/PID/cgroup text (systemd puts a unit's processes under .../NAME.service). */
  cgroup: string;
}

export interface UnitFile {
  path: string;
  text: string;
  /** Drop-ins (NAME.service.d/*.conf), in name order. */
  dropIns?: { path: string; text: string }[];
}

/** Interpreters a component may run under (the lab's emulated binaries are `node bundle.mjs NAME`). */
const INTERPRETERS = /^(node|nodejs|sh|bash|dash|python3?|env)$/;
/** Shells: what follows their script is the script's arguments. */
const SHELLS = /^(sh|bash|dash)$/;

/**
 * The component a command line runs, and the index of its first argument: argv[0] itself, or the
 * first non-option word after an interpreter (`sh /usr/local/bin/etcd ...`, `node bundle.mjs kubelet ...`).
 * A shell script given a component's name (`bash supervise.sh kubelet`: a supervisor or wrapper, such
 * as the lab's stand-in for systemd) is not that component: the component it starts is a process of
 * its own, and reading the wrapper's (empty) flags would shadow it.
 */
export function componentOfArgv(argv: readonly string[]): { name: ComponentName; argsFrom: number } | undefined {
  for (let i = 0; i < Math.min(argv.length, 3); i++) {
    const base = posix.basename(argv[i] ?? '');
    if ((COMPONENTS as readonly string[]).includes(base)) return { name: base as ComponentName, argsFrom: i + 1 };
    if (i === 0 && !INTERPRETERS.test(base)) return undefined;
    if (i === 1 && SHELLS.test(posix.basename(argv[0] ?? ''))) return undefined;
    if (i > 0 && (argv[i] ?? '').startsWith('-')) return undefined;
  }
  return undefined;
}

/** `--a=b`, `--a b` and bare `--a` (value "true"), as Go's pflag reads them. Later wins, as in pflag. */
export function parseFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) continue;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    if (eq >= 0) flags.set(body.slice(0, eq), body.slice(eq + 1));
    else if (i + 1 < args.length && !args[i + 1]!.startsWith('-')) flags.set(body, args[++i]!);
    else flags.set(body, 'true');
  }
  return flags;
}

/** A static pod manifest's containers: name and command+args. */
export function manifestContainers(text: string): { name: string; argv: string[] }[] {
  let doc: { spec?: { containers?: { name?: unknown; command?: unknown; args?: unknown }[] } } | null;
  try {
    doc = parseYaml(text) as typeof doc;
  } catch {
    return [];
  }
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  return (doc?.spec?.containers ?? []).map((c) => ({ name: String(c.name ?? ''), argv: [...strings(c.command), ...strings(c.args)] }));
}

/**
 * The words of a unit's effective ExecStart (systemd quoting, `\` continuations, the last non-empty
 * one wins). With `read`, its variables are expanded as systemd does (systemd.service(5), "Command
 * lines"): `$VAR` alone becomes that variable's words, `${VAR}` is replaced within a word; values
 * from Environment= and EnvironmentFile= (kubespray's kubelet.service: `kubelet $KUBELET_ARGS ...`
 * with /etc/kubernetes/kubelet.env). An unset variable expands to nothing.
 */
export function unitExecStart(unit: UnitFile, read?: (path: string) => string | undefined): string[] | undefined {
  let argv: string[] | undefined;
  for (const text of [unit.text, ...(unit.dropIns ?? []).map((d) => d.text)]) {
    for (const value of directiveValues(text, 'ExecStart')) argv = value.trim() === '' ? undefined : splitSystemdWords(value.replace(/^[-@:+!]+/, ''));
  }
  if (!argv || !read || !argv.some((w) => w.includes('$'))) return argv;
  const env: Record<string, string> = {};
  const declared = unitEnvironment(unit);
  // EnvironmentFile= settings override Environment= ones (systemd.exec(5)).
  for (const [k, a] of Object.entries(declared.assignments)) env[k] = a.value;
  for (const f of declared.files) Object.assign(env, parseEnvFile(read(f.path) ?? ''));
  return argv.flatMap((w) => {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(w);
    if (whole) return splitSystemdWords(env[whole[1]!] ?? '');
    return [w.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? '')];
  });
}

/** EnvironmentFile= paths (a leading `-` means optional) and Environment= assignments, drop-ins included. */
export function unitEnvironment(unit: UnitFile): { files: { path: string; optional: boolean }[]; assignments: Record<string, { value: string; file: string }> } {
  const files: { path: string; optional: boolean }[] = [];
  const assignments: Record<string, { value: string; file: string }> = {};
  for (const { path, text } of [{ path: unit.path, text: unit.text }, ...(unit.dropIns ?? [])]) {
    for (const v of directiveValues(text, 'EnvironmentFile')) {
      const optional = v.startsWith('-');
      files.push({ path: optional ? v.slice(1) : v, optional });
    }
    for (const v of directiveValues(text, 'Environment')) {
      for (const word of splitSystemdWords(v)) {
        const eq = word.indexOf('=');
        if (eq > 0) assignments[word.slice(0, eq)] = { value: word.slice(eq + 1), file: path };
      }
    }
  }
  return { files, assignments };
}

/** KEY=value lines of an environment file (systemd's and etcd's .env style; quotes removed, comments skipped, `\` continues a line). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  // A line ending in a backslash goes on with the next one (systemd.exec(5), EnvironmentFile=).
  for (const raw of text.replace(/\\\r?\n/g, ' ').split('\n')) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

function directiveValues(text: string, name: string): string[] {
  // Join `\` continuations first, as systemd does.
  const joined = text.replace(/\\[ \t]*\r?\n/g, ' ');
  const values: string[] = [];
  for (const line of joined.split('\n')) {
    const m = new RegExp(`^[ \\t]*${name}[ \\t]*=(.*)$`).exec(line);
    if (m) values.push(m[1]!.trim());
  }
  return values;
}

function splitSystemdWords(text: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) words.push(m[1] ?? m[2] ?? m[3] ?? '');
  return words;
}

/** etcd's config-file YAML keys that differ from its flag names (etcd server/embed/config.go). */
const ETCD_TRANSPORT_KEYS: Record<string, Record<string, string>> = {
  'client-transport-security': { 'cert-file': 'cert-file', 'key-file': 'key-file', 'trusted-ca-file': 'trusted-ca-file', 'client-cert-auth': 'client-cert-auth' },
  'peer-transport-security': { 'cert-file': 'peer-cert-file', 'key-file': 'peer-key-file', 'trusted-ca-file': 'peer-trusted-ca-file', 'client-cert-auth': 'peer-client-cert-auth' },
};

/** ETCD_PEER_TRUSTED_CA_FILE -> peer-trusted-ca-file (etcd's flag-from-env rule, pkg/flags). */
export function etcdEnvToFlag(name: string): string | undefined {
  return name.startsWith('ETCD_') ? name.slice(5).toLowerCase().replace(/_/g, '-') : undefined;
}

export function etcdFlagToEnv(flag: string): string {
  return `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** The settings etcd reads from its --config-file YAML, by flag name, with their YAML paths. */
export function etcdConfigSettings(text: string, file: string): Record<string, Setting> {
  const doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  const out: Record<string, Setting> = {};
  for (const [key, value] of Object.entries(doc)) {
    const nested = ETCD_TRANSPORT_KEYS[key];
    if (nested && value && typeof value === 'object') {
      for (const [sub, subValue] of Object.entries(value as Record<string, unknown>)) {
        const flag = nested[sub];
        if (flag && subValue !== null && subValue !== undefined && subValue !== '') out[flag] = { name: flag, value: String(subValue), source: { kind: 'etcd-config', file, key: `${key}.${sub}` } };
      }
    } else if (value !== null && value !== undefined && typeof value !== 'object' && value !== '') {
      out[key] = { name: key, value: String(value), source: { kind: 'etcd-config', file, key } };
    }
  }
  return out;
}

/** KubeletConfiguration fields that name files, by the flag that overrides each (kubelet precedence: flags win). */
const KUBELET_CONFIG_FILES: Record<string, string> = {
  'tlsCertFile': 'tls-cert-file',
  'tlsPrivateKeyFile': 'tls-private-key-file',
  'authentication.x509.clientCAFile': 'client-ca-file',
  'staticPodPath': 'pod-manifest-path',
};

export function kubeletConfigSettings(text: string, file: string): Record<string, Setting> {
  const doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
  const out: Record<string, Setting> = {};
  for (const [path, flag] of Object.entries(KUBELET_CONFIG_FILES)) {
    let v: unknown = doc;
    for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    if (typeof v === 'string' && v) out[flag] = { name: flag, value: v, source: { kind: 'kubelet-config', file, key: path } };
  }
  return out;
}

/** What the host offers to match a process against. */
export interface HostConfigFiles {
  manifests: { path: string; text: string }[];
  units: UnitFile[];
  /** OpenRC/SysV init scripts (/etc/init.d/*) whose name mentions a component. */
  initScripts?: { path: string; text: string }[];
  /** Reads a file the component names (config files, environment files); undefined when missing. */
  read(path: string): string | undefined;
}

function sameFlags(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** systemd's unit of a process, from its cgroup (`0::/system.slice/etcd.service`). */
export function unitOfCgroup(cgroup: string): string | undefined {
  const m = /\/([^/\n]+)\.service(?:\/|$)/m.exec(cgroup);
  return m ? m[1] : undefined;
}

/**
 * One running component with its effective settings.
 * - Where the flags live: the manifest whose container command equals the process's flags
 *   (kubeadm's static pods), else the unit whose ExecStart does (its cgroup's unit first), else the
 *   unit or manifest that runs the same binary (flags differ: the file was edited and the component
 *   not restarted yet, a warning), else only the process.
 * - etcd: a config file (--config-file or ETCD_CONFIG_FILE) replaces flags and environment entirely
 *   (etcd ignores both then, etcdmain/config.go); without one, a flag beats its ETCD_* variable.
 * - kubelet: flags beat the KubeletConfiguration file named by --config (kubelet's documented rule).
 */
export function resolveComponent(proc: ProcessInfo, files: HostConfigFiles): ComponentInstance | undefined {
  const match = componentOfArgv(proc.argv);
  if (!match) return undefined;
  const { name } = match;
  const args = proc.argv.slice(match.argsFrom);
  const flags = parseFlags(args);
  const warnings: string[] = [];
  let flagsIn: ComponentInstance['flagsIn'] = 'process';
  let configFile: string | undefined;
  let restart: RestartMethod = { method: 'unknown' };
  let unit: UnitFile | undefined;

  const manifestHits = files.manifests.flatMap((m) =>
    manifestContainers(m.text)
      .filter((c) => componentOfArgv(c.argv)?.name === name)
      .map((c) => ({ path: m.path, container: c.name, flags: parseFlags(c.argv.slice(componentOfArgv(c.argv)!.argsFrom)) })),
  );
  const unitHits = files.units
    .map((u) => ({ unit: u, argv: unitExecStart(u, (p) => files.read(p)) }))
    .filter((u): u is { unit: UnitFile; argv: string[] } => !!u.argv && componentOfArgv(u.argv)?.name === name)
    .map((u) => ({ unit: u.unit, flags: parseFlags(u.argv.slice(componentOfArgv(u.argv)!.argsFrom)) }));
  const cgroupUnit = unitOfCgroup(proc.cgroup);
  const unitName = (u: UnitFile) => posix.basename(u.path).replace(/\.service$/, '');
  const exactManifest = manifestHits.find((m) => sameFlags(m.flags, flags));
  const exactUnit = unitHits.find((u) => sameFlags(u.flags, flags) && (!cgroupUnit || unitName(u.unit) === cgroupUnit)) ?? unitHits.find((u) => sameFlags(u.flags, flags));
  if (exactManifest) {
    flagsIn = 'manifest';
    configFile = exactManifest.path;
    restart = { method: 'static-pod', container: exactManifest.container };
  } else if (exactUnit) {
    flagsIn = 'unit';
    unit = exactUnit.unit;
    configFile = unit.path;
    restart = { method: 'systemd', unit: unitName(unit) };
  } else if (initScriptFor(name, flags, files.initScripts ?? [])) {
    // An init script that starts this binary with these very flag values (e.g. its --config-file):
    // it, not a distribution's unit for the same binary that is not what runs, restarts the component.
    const script = initScriptFor(name, flags, files.initScripts ?? [])!;
    flagsIn = 'init-script';
    configFile = script.path;
    // The path is the host's file name: quoted, since the command runs in a shell on every host the
    // written vars reach (a name like `/etc/init.d/etcd;cmd` must stay a file name).
    restart = { method: 'command', command: `${shellQuote(script.path)} restart` };
  } else if (manifestHits.length === 1 || unitHits.length === 1) {
    const m = manifestHits[0];
    if (m) {
      flagsIn = 'manifest';
      configFile = m.path;
      restart = { method: 'static-pod', container: m.container };
    } else {
      unit = unitHits[0]!.unit;
      flagsIn = 'unit';
      configFile = unit.path;
      restart = { method: 'systemd', unit: unitName(unit) };
    }
    warnings.push(`${name} (pid ${proc.pid}): its command line differs from ${configFile}: edited and not restarted yet? Settings are read from the running process, edits go to ${configFile}`);
  } else {
    if (cgroupUnit) restart = { method: 'systemd', unit: cgroupUnit };
    warnings.push(`${name} (pid ${proc.pid}): no static pod manifest or systemd unit holds its flags${cgroupUnit ? ` (its cgroup names ${cgroupUnit}.service, whose file was not found)` : ''}; where to change its settings is unknown`);
  }

  const flagKind: SettingSource['kind'] = flagsIn === 'manifest' ? 'manifest-flag' : flagsIn === 'unit' ? 'unit-flag' : 'process-flag';
  if (flagsIn === 'init-script' && [...flags.keys()].some((f) => f !== 'config-file')) {
    warnings.push(`${name} (pid ${proc.pid}): started by ${configFile} with flags kcarun does not edit there; settings in a config or environment file can be changed, the others only by hand`);
  }
  const settings: Record<string, Setting> = {};
  for (const [flag, value] of flags) settings[flag] = { name: flag, value, source: { kind: flagKind, file: configFile, key: `--${flag}` } };
  let precedence = 'flags';

  if (name === 'etcd') {
    // Where each ETCD_* variable came from: the unit's EnvironmentFile, its Environment=, or unknown.
    const envOrigin = new Map<string, SettingSource>();
    if (unit) {
      const env = unitEnvironment(unit);
      for (const [k] of Object.entries(env.assignments)) envOrigin.set(k, { kind: 'unit-environment', file: env.assignments[k]!.file, key: k });
      for (const f of env.files) {
        const text = files.read(f.path);
        if (text === undefined) {
          if (!f.optional) warnings.push(`etcd: EnvironmentFile ${f.path} of ${unit.path} is missing`);
          continue;
        }
        for (const k of Object.keys(parseEnvFile(text))) envOrigin.set(k, { kind: 'env-file', file: f.path, key: k });
      }
    }
    const configPath = flags.get('config-file') ?? proc.env['ETCD_CONFIG_FILE'];
    if (configPath) {
      const text = files.read(configPath);
      const configSetting: Setting = settings['config-file'] ?? {
        name: 'config-file',
        value: configPath,
        source: envOrigin.get('ETCD_CONFIG_FILE') ?? { kind: 'process-env', key: 'ETCD_CONFIG_FILE' },
      };
      for (const k of Object.keys(settings)) delete settings[k];
      settings['config-file'] = configSetting;
      if (text === undefined) warnings.push(`etcd: config file ${configPath} cannot be read`);
      else Object.assign(settings, etcdConfigSettings(text, configPath));
      const ignoredFlags = [...flags.keys()].filter((f) => f !== 'config-file').length;
      const ignoredEnv = Object.keys(proc.env).filter((k) => k.startsWith('ETCD_') && k !== 'ETCD_CONFIG_FILE').length;
      precedence = `config file ${configPath} (etcd then ignores flags and ETCD_* variables: ${ignoredFlags} flag(s), ${ignoredEnv} variable(s) ignored)`;
    } else {
      for (const [k, v] of Object.entries(proc.env)) {
        const flag = etcdEnvToFlag(k);
        if (!flag || settings[flag]) continue;
        const source = envOrigin.get(k) ?? { kind: 'process-env' as const, key: k };
        if (source.kind === 'process-env') warnings.push(`etcd: ${k} is in its environment but in no EnvironmentFile or Environment= of its unit`);
        settings[flag] = { name: flag, value: v, source };
      }
      precedence = 'flags, then ETCD_* variables for flags not given';
    }
  }

  if (name === 'kubelet') {
    const cfg = flags.get('config');
    if (cfg) {
      const text = files.read(cfg);
      if (text === undefined) warnings.push(`kubelet: --config ${cfg} cannot be read`);
      else for (const [flag, s] of Object.entries(kubeletConfigSettings(text, cfg))) if (!settings[flag]) settings[flag] = s;
      precedence = `flags, then ${cfg} (KubeletConfiguration)`;
    }
  }
  return { name, pid: proc.pid, argv: proc.argv, flagsIn, configFile, restart, settings, precedence, warnings };
}

/**
 * The init script that starts `name` with the given flags: its text names the binary and every flag
 * value the process got (so a distribution's generic script for the same binary does not match).
 */
export function initScriptFor(name: ComponentName, flags: Map<string, string>, scripts: readonly { path: string; text: string }[]): { path: string; text: string } | undefined {
  const values = [...flags.values()].filter((v) => v !== 'true' && v !== 'false');
  if (values.length === 0) return undefined;
  return scripts.find((s) => new RegExp(`(^|[/\\s"'=])${name}([\\s"']|$)`, 'm').test(s.text) && values.every((v) => s.text.includes(v)));
}

/** Settings whose value names a certificate, trust file or kubeconfig (read and classified). */
export const CERT_SETTINGS: Record<ComponentName, string[]> = {
  'etcd': ['cert-file', 'trusted-ca-file', 'peer-cert-file', 'peer-trusted-ca-file'],
  'kube-apiserver': ['client-ca-file', 'tls-cert-file', 'etcd-cafile', 'etcd-certfile', 'kubelet-certificate-authority', 'kubelet-client-certificate', 'proxy-client-cert-file', 'requestheader-client-ca-file'],
  'kube-controller-manager': [
    'client-ca-file', 'cluster-signing-cert-file', 'root-ca-file', 'requestheader-client-ca-file', 'tls-cert-file',
    ...['kubelet-client', 'kubelet-serving', 'kube-apiserver-client', 'legacy-unknown'].map((s) => `cluster-signing-${s}-cert-file`),
  ],
  'kube-scheduler': ['client-ca-file', 'requestheader-client-ca-file', 'tls-cert-file'],
  'kubelet': ['client-ca-file', 'tls-cert-file'],
};

export const KUBECONFIG_SETTINGS: Record<ComponentName, string[]> = {
  'etcd': [],
  'kube-apiserver': [],
  'kube-controller-manager': ['kubeconfig', 'authentication-kubeconfig', 'authorization-kubeconfig'],
  'kube-scheduler': ['kubeconfig', 'authentication-kubeconfig', 'authorization-kubeconfig'],
  'kubelet': ['kubeconfig'],
};

/** The key that goes with a certificate setting (same source file; stat only, never read). */
export const KEY_OF: Record<string, string> = {
  'cert-file': 'key-file',
  'peer-cert-file': 'peer-key-file',
  'tls-cert-file': 'tls-private-key-file',
  'etcd-certfile': 'etcd-keyfile',
  'kubelet-client-certificate': 'kubelet-client-key',
  'proxy-client-cert-file': 'proxy-client-key-file',
  'cluster-signing-cert-file': 'cluster-signing-key-file',
  ...Object.fromEntries(['kubelet-client', 'kubelet-serving', 'kube-apiserver-client', 'legacy-unknown'].map((s) => [`cluster-signing-${s}-cert-file`, `cluster-signing-${s}-key-file`])),
};
