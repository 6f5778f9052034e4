import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import SSHConfig from 'ssh-config';
import { appendKnownHost, checkHostKey, knownHostsName, knownKeyTypes, parseKnownHosts, patternsMatch, readKnownHosts, sha256Fingerprint } from '../../src/transport/known-hosts.js';
import { parseJumpSpec, resolveSshTarget } from '../../src/transport/ssh-config.js';
import { makeHost } from '../helpers/task-context.js';

describe('known_hosts', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcarun-kh-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function newKey(name: string, type = 'ed25519'): Promise<{ line: string; blob: Buffer }> {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, name)]);
    const line = (await readFile(join(dir, `${name}.pub`), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64') };
  }

  it('names hosts like OpenSSH and matches wildcards, negation and hashed entries made by ssh-keygen -H', async () => {
    expect(knownHostsName('10.0.0.1', 22)).toBe('10.0.0.1');
    expect(knownHostsName('10.0.0.1', 2222)).toBe('[10.0.0.1]:2222');
    expect(patternsMatch('cp*,!cp3', 'cp1')).toBe(true);
    expect(patternsMatch('cp*,!cp3', 'cp3')).toBe(false);
    expect(patternsMatch('10.0.0.?', '10.0.0.7')).toBe(true);
    expect(patternsMatch('10.0.0.?', '10.0.0.17')).toBe(false);
    // Case-insensitive, and regexp characters in a name are literal.
    expect(patternsMatch('CP1.Example.COM,[db.example]:2222', 'cp1.example.com')).toBe(true);
    expect(patternsMatch('[db.example]:2222', '[dbXexample]:2222')).toBe(false);
    expect(patternsMatch('[db.ex*]:2222', '[DB.EXAMPLE]:2222')).toBe(true);
    const k = await newKey('a');
    const file = join(dir, 'known_hosts');
    await writeFile(file, `[10.0.0.9]:2222 ${k.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = await readKnownHosts(file);
    expect(entries[0]!.patterns).toMatch(/^\|1\|/);
    expect(checkHostKey(entries, '[10.0.0.9]:2222', k.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, '10.0.0.9', k.blob)).toEqual({ status: 'unknown' });
  });

  it('tells unknown, changed (same or other key type) and revoked apart', async () => {
    const a = await newKey('a');
    const b = await newKey('b');
    const e = await newKey('e', 'ecdsa');
    const entries = parseKnownHosts(`# comment\ncp1 ${a.line}\n@revoked * ${b.line}\n@cert-authority *.example ${e.line}\n`);
    expect(checkHostKey(entries, 'cp1', a.blob).status).toBe('known');
    expect(checkHostKey(entries, 'cp2', a.blob).status).toBe('unknown');
    expect(checkHostKey(entries, 'cp1', b.blob).status).toBe('revoked');
    expect(checkHostKey(entries, 'cp1', e.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'] });
    // A CA line is no host key.
    expect(checkHostKey(entries, 'x.example', e.blob).status).toBe('unknown');
  });

  it('answers for a name from plain lists, wildcards, negations and hashed lines alike, key types in file order', async () => {
    const a = await newKey('a');
    const e = await newKey('e', 'ecdsa');
    const r = await newKey('r', 'rsa');
    // cp1 is named plainly (in a list, in another case), by a wildcard and by a hashed line; cp3 is
    // excluded from the wildcard by negation; the types must come back in the order of the file.
    const file = join(dir, 'hashed');
    await writeFile(file, `cp1 ${r.line}
`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const hashedLine = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith('|1|'))!;
    const entries = parseKnownHosts(`cp*,!cp3 ${e.line}
CP1,10.0.0.11 ${a.line}
${hashedLine}
`);
    expect(checkHostKey(entries, 'cp1', r.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, 'cp1', a.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, '10.0.0.11', a.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, 'cp2', e.blob)).toEqual({ status: 'known' });
    expect(checkHostKey(entries, 'cp3', e.blob)).toEqual({ status: 'unknown' });
    expect(knownKeyTypes(entries, 'cp1')).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519', 'ssh-rsa']);
    expect(checkHostKey(entries, 'cp2', a.blob)).toEqual({ status: 'changed', knownTypes: ['ecdsa-sha2-nistp256'] });
  });

  it('reads a key appended after the first read (the parse is reused only while the file is unchanged)', async () => {
    const a = await newKey('a');
    const b = await newKey('b');
    const file = join(dir, 'known_hosts');
    await writeFile(file, `cp1 ${a.line}
`);
    expect(checkHostKey(await readKnownHosts(file), 'cp2', b.blob).status).toBe('unknown');
    expect(await readKnownHosts(file)).toBe(await readKnownHosts(file));
    // A run's connections start together: they share one parse of the file, not one each.
    await writeFile(file, `cp1 ${a.line}\n# rewritten\n`);
    const [first, second] = await Promise.all([readKnownHosts(file), readKnownHosts(file)]);
    expect(first).toBe(second);
    await appendKnownHost(file, 'cp2', b.blob);
    expect(checkHostKey(await readKnownHosts(file), 'cp2', b.blob).status).toBe('known');
    await writeFile(file, `cp2 ${a.line}
`);
    expect(checkHostKey(await readKnownHosts(file), 'cp2', b.blob)).toEqual({ status: 'changed', knownTypes: ['ssh-ed25519'] });
  });

  it('appends accepted keys in a format ssh-keygen -F finds, with the fingerprint ssh-keygen prints', async () => {
    const k = await newKey('a');
    const file = join(dir, 'sub', 'known_hosts');
    await appendKnownHost(file, '[127.0.0.5]:2022', k.blob);
    await appendKnownHost(file, 'cp1', k.blob);
    expect(execFileSync('ssh-keygen', ['-F', '[127.0.0.5]:2022', '-f', file], { encoding: 'utf8' })).toContain(k.line);
    const printed = execFileSync('ssh-keygen', ['-lf', join(dir, 'a.pub')], { encoding: 'utf8' }).split(' ')[1];
    expect(sha256Fingerprint(k.blob)).toBe(printed);
  });
});

describe('~/.ssh/config resolution', () => {
  const config = SSHConfig.parse(
    ['Host cp1', '  HostName 10.0.0.11', '  Port 2200', '  User ops', '  IdentityFile ~/.ssh/id_cp', '  ProxyJump bastion', 'Host direct', '  ProxyJump none', 'Host *', '  User fallback', '  UserKnownHostsFile ~/.ssh/kh_%h'].join('\n'),
  );

  it('fills in what the inventory leaves out, the inventory wins otherwise', () => {
    const silent = { ...makeHost('cp1'), address: 'cp1', port: 22, user: '' };
    expect(resolveSshTarget(silent, config)).toEqual({
      address: '10.0.0.11',
      port: 2200,
      user: 'ops',
      identityFile: join(homedir(), '.ssh/id_cp'),
      proxyJump: 'bastion',
      knownHostsFile: join(homedir(), '.ssh/kh_10.0.0.11'),
    });
    const explicit = { ...silent, port: 2022, user: 'root', ssh: { identityFile: '/k', proxyJump: 'other', knownHostsFile: '/kh' } };
    expect(resolveSshTarget(explicit, config)).toMatchObject({ address: '10.0.0.11', port: 2022, user: 'root', identityFile: '/k', proxyJump: 'other', knownHostsFile: '/kh' });
    expect(resolveSshTarget({ ...silent, address: 'direct' }, config).proxyJump).toBeUndefined();
    expect(resolveSshTarget({ ...silent, address: '10.9.9.9' }, null)).toMatchObject({ address: '10.9.9.9', port: 22, user: 'root', knownHostsFile: join(homedir(), '.ssh/known_hosts') });
  });

  it('refuses a ProxyJump hop list from ~/.ssh/config, naming the host, rather than silently following its first hop', () => {
    const hops = SSHConfig.parse(['Host far', '  ProxyJump a.example,b.example'].join('\n'));
    expect(() => resolveSshTarget({ ...makeHost('far'), address: 'far', port: 22, user: 'root' }, hops)).toThrow(/far: ProxyJump "a\.example,b\.example" lists several hops/);
  });

  it('parses ProxyJump specs', () => {
    expect(parseJumpSpec('admin@bastion.example:2222')).toEqual({ user: 'admin', address: 'bastion.example', port: 2222 });
    expect(parseJumpSpec('10.0.0.1')).toEqual({ user: undefined, address: '10.0.0.1', port: undefined });
    expect(parseJumpSpec('root@[::1]:22')).toEqual({ user: 'root', address: '::1', port: 22 });
  });
});
