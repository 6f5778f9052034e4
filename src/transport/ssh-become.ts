import { KcarunError, stderrTail } from '../core/errors.js';
import { shellQuote } from '../core/shell.js';
import type { HostInfo } from '../core/types.js';
import type { SshTarget } from './ssh-config.js';
import type { ExecOptions } from './types.js';

type BecomeMode = 'nopasswd' | 'password';

/** A command run once outside the channel accounting of tasks (here: the sudo probes). */
export type ProbeRunner = (line: string, stdin: Buffer, shownCommand: string) => Promise<{ stderr: Buffer; rc: number }>;

/**
 * The command line sshd runs for a task's command: its env and cwd quoted into a small script,
 * and sudo around it when `become` applies (inventory `become`, a login user other than root).
 * Passwordless sudo or sudo with the password from an environment variable, probed once per host.
 */
export class SshBecome {
  private mode: Promise<BecomeMode> | undefined;

  constructor(
    private readonly info: HostInfo,
    private readonly target: SshTarget,
    /** Where `becomePasswordEnv` is looked up. */
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly probe: ProbeRunner,
  ) {}

  private get host(): string {
    return this.info.name;
  }

  applies(become: boolean | undefined): boolean {
    return (become ?? this.info.become) && this.target.user !== 'root';
  }

  /** The line to run and the stdin to send (the sudo password first, when sudo reads one). */
  async commandLine(command: string, options: ExecOptions): Promise<{ line: string; stdin: Buffer }> {
    let script = '';
    for (const [name, value] of Object.entries(options.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new KcarunError('E_TASK', `${this.host}: invalid environment variable name ${JSON.stringify(name)}`, { host: this.host });
      }
      script += `export ${name}=${shellQuote(value)}\n`;
    }
    if (options.cwd !== undefined) script += `cd -- ${shellQuote(options.cwd)} || exit 125\n`;
    script += command;
    const stdin = typeof options.stdin === 'string' ? Buffer.from(options.stdin) : (options.stdin ?? Buffer.alloc(0));
    if (!this.applies(options.become)) return { line: script, stdin };
    const mode = await this.sudoMode();
    if (mode === 'nopasswd') return { line: `sudo -n -- sh -c ${shellQuote(script)}`, stdin };
    // -k: never use cached credentials, so sudo always reads (consumes) the password line first and
    // the command only ever sees its own stdin. -p '': no prompt on stderr.
    return { line: `sudo -k -S -p '' -- sh -c ${shellQuote(script)}`, stdin: Buffer.concat([this.sudoPassword(), stdin]) };
  }

  private sudoPassword(): Buffer {
    const name = this.info.becomePasswordEnv;
    const value = name ? this.env[name] : undefined;
    if (!name || value === undefined) {
      throw new KcarunError(
        'E_AUTH',
        `${this.host}: sudo needs a password for ${this.target.user}; set the inventory's becomePasswordEnv to the name of an environment variable holding it${name ? ` (${name} is not set)` : ''}`,
        { host: this.host },
      );
    }
    return Buffer.from(`${value}\n`);
  }

  /** Probed once per host: passwordless sudo, or sudo with the password from the environment. */
  private sudoMode(): Promise<BecomeMode> {
    if (!this.mode) {
      this.mode = (async (): Promise<BecomeMode> => {
        const probe = await this.probe('sudo -n true', Buffer.alloc(0), 'sudo -n true');
        if (probe.rc === 0) return 'nopasswd';
        const password = this.sudoPassword();
        const check = await this.probe(`sudo -k -S -p '' true`, password, 'sudo -S true');
        if (check.rc === 0) return 'password';
        throw new KcarunError(
          'E_AUTH',
          `${this.host}: sudo refused ${this.target.user} with the password from ${this.info.becomePasswordEnv}: ${stderrTail(check.stderr.toString('utf8'), { lines: 2, separator: ' ' })}`,
          { host: this.host },
        );
      })();
      this.mode.catch(() => (this.mode = undefined));
    }
    return this.mode;
  }
}
