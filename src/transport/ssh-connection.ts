import type { Duplex } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Client } from 'ssh2';
import { KcarunError } from '../core/errors.js';
import type { TaskLogger } from '../core/types.js';

/** sshd's MaxSessions is 10 by default; one is kept for the SFTP channel, one spare. */
export const MAX_EXEC_CHANNELS = 8;

/**
 * One host's SSH connection: dialled lazily, redialled on the next use after it was lost. When it
 * drops, every operation in flight on it fails with E_UNREACHABLE (never E_REMOTE_EXIT: the
 * command's fate is unknown), and whatever was bound to it (the SFTP session) is forgotten.
 */
export class SshConnection {
  private current: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private closed = false;
  /** Rejecters of in-flight operations, called when the connection drops. */
  private readonly inFlight = new Set<(err: KcarunError) => void>();
  private readonly lostListeners = new Set<() => void>();
  /**
   * Exec channels open at once on this connection, kept below sshd's MaxSessions (10), where sshd
   * would refuse more; the rest wait in FIFO order.
   */
  readonly channels: LimitFunction = pLimit(MAX_EXEC_CHANNELS);

  constructor(
    readonly host: string,
    private readonly dial: () => Promise<Client>,
    private readonly log?: TaskLogger,
  ) {}

  /** The live client, if connected right now (false also tells an operation its failure was the connection's). */
  get client(): Client | undefined {
    return this.current;
  }

  /** The client, connecting first when there is none (concurrent callers share one connect). */
  get(): Promise<Client> {
    if (this.closed) return Promise.reject(new KcarunError('E_UNREACHABLE', `${this.host}: transport already closed`, { host: this.host }));
    if (this.current) return Promise.resolve(this.current);
    if (!this.connecting) {
      this.connecting = this.dial().then(
        (client) => {
          this.current = client;
          this.connecting = undefined;
          const lost = (why: string) => {
            if (this.current !== client) return;
            this.current = undefined;
            for (const listener of this.lostListeners) listener();
            const err = new KcarunError('E_UNREACHABLE', `${this.host}: connection lost (${why})`, { host: this.host });
            for (const reject of [...this.inFlight]) reject(err);
            if (!this.closed) this.log?.warn(`${this.host}: SSH connection lost (${why})`);
          };
          client.on('error', (err: Error) => lost(err.message));
          client.on('close', () => lost('closed by the server or the network'));
          return client;
        },
        (err: unknown) => {
          this.connecting = undefined;
          throw err;
        },
      );
    }
    return this.connecting;
  }

  /** Registers an operation's rejecter until the returned function is called. */
  track(reject: (err: KcarunError) => void): () => void {
    this.inFlight.add(reject);
    return () => this.inFlight.delete(reject);
  }

  /** Called (before in-flight operations are failed) each time the connection drops. */
  onLost(listener: () => void): void {
    this.lostListeners.add(listener);
  }

  /** A TCP stream to address:port opened by the host (for a host that uses this one as jump host). */
  async forwardOut(address: string, port: number): Promise<Duplex> {
    const client = await this.get();
    return new Promise((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, address, port, (err, stream) => {
        if (err) reject(new KcarunError('E_UNREACHABLE', `${this.host}: jump host cannot reach ${address}:${port}: ${err.message}`, { host: this.host, transient: true }, { cause: err }));
        else resolve(stream);
      });
    });
  }

  /** Ends the connection (waits up to 2 s for the server to close it); later uses fail. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.current ?? (await this.connecting?.catch(() => undefined));
    this.current = undefined;
    if (!client) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      client.end();
    });
  }
}
