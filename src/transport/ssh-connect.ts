import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { Client, type ConnectConfig } from 'ssh2';
import { retry } from '../core/async.js';
import { KcarunError } from '../core/errors.js';
import type { TaskLogger } from '../core/types.js';
import {
  appendKnownHost,
  checkHostKey,
  keyTypeOfBlob,
  knownHostsName,
  knownKeyTypes,
  readKnownHosts,
  sha256Fingerprint,
} from './known-hosts.js';
import type { SshTarget } from './ssh-config.js';
import { shellQuote } from '../core/shell.js';

/** Everything needed to open one SSH connection (one attempt or several with backoff). */
export interface ConnectRequest {
  /** Inventory name, for messages. */
  hostName: string;
  target: SshTarget;
  /** Name of the env var holding the identity file's passphrase (the value is never logged). */
  identityPassphraseEnv?: string;
  useAgent?: boolean;
  connectTimeoutSeconds?: number;
  acceptNewHostKeys: boolean;
  /** A stream to run SSH over (a forwarded channel through a jump host), instead of TCP. */
  sock?: () => Promise<Duplex>;
  /** Extra connect attempts after a transient failure (default 2). */
  retries?: number;
  /** First backoff delay; doubles per attempt (default 500 ms). */
  backoffMs?: number;
  log?: TaskLogger;
  /** Where the passphrase variable and SSH_AUTH_SOCK are looked up (default: none). */
  env?: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;

type HostKeyAlgorithm = (typeof DEFAULT_HOST_KEY_ALGORITHMS)[number];

/** Ask first for the key types known_hosts already has, so a host with several keys is not "changed". */
function hostKeyAlgorithms(knownTypes: string[]): HostKeyAlgorithm[] {
  const preferred: HostKeyAlgorithm[] = [];
  for (const t of knownTypes) {
    const algos: HostKeyAlgorithm[] = t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : (DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => a === t) as HostKeyAlgorithm[]);
    preferred.push(...algos);
  }
  return [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}

/** Connects, retrying transient network failures with jittered exponential backoff. */
export async function connectWithRetries(req: ConnectRequest): Promise<Client> {
  return retry(() => connectOnce(req), {
    retries: req.retries ?? 2,
    delayMs: req.backoffMs ?? 500,
    factor: 2,
    // Up to a quarter more, so a fleet's reconnects after a network blip do not arrive in step.
    jitter: 0.25,
    retryIf: (err) => err instanceof KcarunError && err.code === 'E_UNREACHABLE' && err.context.transient === true,
    onRetry: (err, attempt, waitMs) => req.log?.debug(`${req.hostName}: connect attempt ${attempt} failed (${(err as Error).message}); retrying in ${waitMs} ms`),
  });
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

async function connectOnce(req: ConnectRequest): Promise<Client> {
  const { target } = req;
  const where = `${target.user}@${target.address}:${target.port}`;
  const env = req.env ?? {};
  const khName = knownHostsName(target.address, target.port);
  const entries = await readKnownHosts(target.knownHostsFile);

  let privateKey: Buffer | undefined;
  if (target.identityFile) {
    try {
      privateKey = await readFile(target.identityFile);
    } catch (err) {
      throw new KcarunError('E_AUTH', `${req.hostName}: cannot read identity file ${target.identityFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { host: req.hostName });
    }
  }
  const passphrase = req.identityPassphraseEnv ? env[req.identityPassphraseEnv] : undefined;
  if (req.identityPassphraseEnv && passphrase === undefined) {
    throw new KcarunError('E_AUTH', `${req.hostName}: environment variable ${req.identityPassphraseEnv} (identity passphrase) is not set`, { host: req.hostName });
  }
  const agent = req.useAgent === false ? undefined : env.SSH_AUTH_SOCK || undefined;
  if (!privateKey && !agent) {
    throw new KcarunError('E_AUTH', `${req.hostName}: no identity file and no ssh-agent (SSH_AUTH_SOCK) to log in as ${target.user}`, { host: req.hostName });
  }

  const sock = req.sock ? await req.sock() : undefined;
  // The verdict is kept here: ssh2 reports a refused key only as a generic handshake error.
  let hostKeyProblem: KcarunError | undefined;
  let acceptedNewKey: Buffer | undefined;
  const hostVerifier = (key: Buffer): boolean => {
    const verdict = checkHostKey(entries, khName, key);
    const fp = sha256Fingerprint(key);
    const type = keyTypeOfBlob(key);
    if (verdict.status === 'known') return true;
    if (verdict.status === 'unknown' && req.acceptNewHostKeys) {
      acceptedNewKey = key;
      return true;
    }
    const context = { host: req.hostName, fingerprint: fp, keyType: type, knownHostsFile: target.knownHostsFile };
    if (verdict.status === 'unknown') {
      hostKeyProblem = new KcarunError(
        'E_HOST_KEY',
        `${req.hostName}: host key of ${khName} is not known (${type} ${fp}). Check the fingerprint out of band (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), then run again with --accept-new-host-keys to add it to ${target.knownHostsFile}`,
        context,
      );
    } else if (verdict.status === 'revoked') {
      hostKeyProblem = new KcarunError('E_HOST_KEY', `${req.hostName}: host key of ${khName} (${type} ${fp}) is marked @revoked in ${target.knownHostsFile}`, context);
    } else {
      hostKeyProblem = new KcarunError(
        'E_HOST_KEY',
        `${req.hostName}: HOST KEY CHANGED for ${khName}: it offered ${type} ${fp}, which does not match ${target.knownHostsFile} (known types: ${verdict.knownTypes.join(', ')}). This may be an attack; if the host was reinstalled, remove the old entry (ssh-keygen -R ${shellQuote(khName)} -f ${shellQuote(target.knownHostsFile)}) and verify the new fingerprint. --accept-new-host-keys never replaces a changed key`,
        context,
      );
    }
    return false;
  };

  const config: ConnectConfig = {
    host: target.address,
    port: target.port,
    username: target.user,
    privateKey,
    passphrase,
    agent,
    sock: sock as ConnectConfig['sock'],
    readyTimeout: (req.connectTimeoutSeconds ?? 10) * 1000,
    // Long commands (etcd snapshots) must not drop on an idle link: 15 s pings, give up after 4 misses.
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    hostVerifier,
    algorithms: { serverHostKey: hostKeyAlgorithms(knownKeyTypes(entries, khName)) },
  };

  const client = new Client();
  return await new Promise<Client>((resolve, reject) => {
    let settled = false;
    const fail = (err: KcarunError) => {
      if (settled) return;
      settled = true;
      client.end();
      sock?.destroy();
      reject(err);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      // The error/close listeners stay (as no-ops once settled): ssh2 must always have an 'error' listener.
      const saved = acceptedNewKey ? appendKnownHost(target.knownHostsFile, khName, acceptedNewKey) : Promise.resolve();
      saved.then(
        () => {
          if (acceptedNewKey) req.log?.warn(`${req.hostName}: added host key ${keyTypeOfBlob(acceptedNewKey)} ${sha256Fingerprint(acceptedNewKey)} to ${target.knownHostsFile}`);
          resolve(client);
        },
        (err: Error) => {
          client.end();
          reject(new KcarunError('E_HOST_KEY', `${req.hostName}: cannot record the host key in ${target.knownHostsFile}: ${err.message}`, { host: req.hostName }));
        },
      );
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyProblem) return fail(hostKeyProblem);
      if (err.level === 'client-authentication') {
        return fail(
          new KcarunError('E_AUTH', `${req.hostName}: authentication as ${target.user} failed on ${where} (tried ${[privateKey ? 'identity file' : '', agent ? 'ssh-agent' : ''].filter(Boolean).join(', ')})`, { host: req.hostName }),
        );
      }
      const transient = (err.code !== undefined && TRANSIENT_CODES.has(err.code)) || err.level === 'client-timeout' || /timed out|before handshake|ECONNRESET/i.test(err.message);
      fail(
        new KcarunError('E_UNREACHABLE', `${req.hostName}: cannot connect to ${where}: ${err.message}`, { host: req.hostName, transient }, { cause: err }),
      );
    });
    client.once('close', () => {
      fail(
        hostKeyProblem ??
          new KcarunError('E_UNREACHABLE', `${req.hostName}: connection to ${where} closed during the handshake`, { host: req.hostName, transient: true }),
      );
    });
    try {
      client.connect(config);
    } catch (err) {
      // ssh2 throws synchronously for a bad key or a wrong passphrase; its message holds no secret.
      const msg = (err as Error).message;
      fail(new KcarunError('E_AUTH', `${req.hostName}: cannot use identity file ${target.identityFile ?? ''}: ${msg}`, { host: req.hostName }));
    }
  });
}
