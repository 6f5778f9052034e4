import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { evaluate, isTrue, renderString, renderValue, templateVariables } from '../../src/formats/template.js';
import { localExecTask } from '../../src/tasks/local-exec/index.js';

describe('templating', () => {
  it('keeps the type of a whole-expression template', () => {
    expect(renderString('{{ port }}', { port: 2379 })).toBe(2379);
    expect(renderString('{{ hosts }}', { hosts: ['cp1', 'cp2'] })).toEqual(['cp1', 'cp2']);
    expect(renderString('https://{{ ip }}:{{ port }}', { ip: '127.0.1.1', port: 2379 })).toBe('https://127.0.1.1:2379');
  });

  it('fails on an undefined variable instead of rendering an empty string', () => {
    expect(() => renderString('cat {{ nope }}', {})).toThrow(/undefined variable: nope/);
  });

  it('cannot reach JavaScript: no constructor or prototype access', () => {
    expect(() => renderString('{{ x.constructor }}', { x: {} })).toThrow(/undefined variable/);
    expect(() => renderString('{{ x.__proto__ }}', { x: {} })).toThrow(/undefined variable/);
    expect(() => renderString('{{ x.toString }}', { x: 'text' })).toThrow(/undefined variable/);
  });

  it('cannot read files through include/render', () => {
    expect(() => renderString("{% include '/etc/passwd' %}", {})).toThrow();
  });

  it('shell-quotes every value in a shell field, so hostile values stay one literal argument', () => {
    const hostile = [`a'b`, '$(touch /tmp/kcarun-pwned)', 'x; rm -rf /', 'two\nlines', '`id`', '"dq"'];
    for (const value of hostile) {
      const params = renderValue({ command: 'printf %s {{ v }}' }, { v: value }, localExecTask.schema) as { command: string };
      const out = execFileSync('/bin/sh', ['-c', params.command], { encoding: 'utf8' });
      expect(out).toBe(value);
    }
  });

  it('lets a shell field opt out of quoting with | raw, and non-shell fields are not quoted', () => {
    const params = renderValue({ command: 'echo {{ flags | raw }}', cwd: '{{ dir }}' }, { flags: '-n x', dir: "/tmp/a b" }, localExecTask.schema) as {
      command: string;
      cwd: string;
    };
    expect(params.command).toBe('echo -n x');
    expect(params.cwd).toBe('/tmp/a b');
  });

  it('evaluates when-expressions with Liquid operators', () => {
    expect(isTrue(evaluate('layout == "kubeadm" and rotate_etcd', { layout: 'kubeadm', rotate_etcd: true }))).toBe(true);
    expect(isTrue(evaluate('groups.etcd contains "cp2"', { groups: { etcd: ['cp1', 'cp2'] } }))).toBe(true);
    expect(isTrue(evaluate('enabled', { enabled: 'false' }))).toBe(false);
  });

  it('format_each names every host\'s file (kubespray\'s per-host etcd certificates), patterns outer, hosts inner', () => {
    const scope = { groups: { etcd: ['cp1', 'cp2'], workers: ['w1'] } };
    expect(renderString("{{ groups.etcd | concat: groups.workers | format_each: '/s/member-%s.pem', '/s/node-%s.pem' }}", scope)).toEqual([
      '/s/member-cp1.pem', '/s/member-cp2.pem', '/s/member-w1.pem', '/s/node-cp1.pem', '/s/node-cp2.pem', '/s/node-w1.pem',
    ]);
    // every %s, and a single value is a list of one
    expect(renderString("{{ groups.workers[0] | format_each: '%s/%s.pem' }}", scope)).toEqual(['w1/w1.pem']);
    // a value is text: `$'` and `$&` stay as they are; a value that is not a name is refused
    expect(renderString("{{ names | format_each: 'm-%s.pem' }}", { names: ["a$'b", 'c$&d'] })).toEqual(["m-a$'b.pem", 'm-c$&d.pem']);
    expect(() => renderString("{{ names | format_each: 'm-%s.pem' }}", { names: [{ a: 1 }] })).toThrow(/format_each: \{"a":1\} is not a name/);
    // a pattern without %s would repeat one path: refused, with the pattern named
    expect(() => renderString("{{ groups.etcd | format_each: '/s/ca.pem' }}", scope)).toThrow(/format_each: pattern "\/s\/ca.pem" has no %s/);
  });

  it('lists the root variables a template reads', () => {
    expect([...templateVariables('{{ a.b }} {{ c | default: d }}')].sort()).toEqual(['a', 'c', 'd']);
  });
});

describe('nested templates', () => {
  it('renders templates inside the values of vars, and stops a cycle with a clear error', () => {
    const scope = { groups: { etcd: ['cp1', 'cp2'] }, certs: [{ path: '/a', hosts: '{{ groups.etcd }}' }], a: '{{ b }}', b: '{{ a }}' };
    expect(renderString('{{ certs }}', scope)).toEqual([{ path: '/a', hosts: ['cp1', 'cp2'] }]);
    expect(() => renderString('{{ a }}', scope)).toThrow(/levels deep/);
  });
});

describe('shell quoting deep inside params', () => {
  it('quotes a command nested in a list (a wait-healthy command probe), and nothing else there', async () => {
    const { waitHealthyTask } = await import('../../src/tasks/wait-healthy/index.js');
    const params = renderValue(
      { probes: [{ kind: 'command', command: 'test -f {{ path }}' }, { kind: 'https', url: 'https://{{ ip }}:6443/readyz', cacert: '/ca' }] },
      { path: "/tmp/a b; rm -rf /", ip: '127.0.0.1' },
      waitHealthyTask.schema,
    ) as { probes: [{ command: string }, { url: string }] };
    expect(params.probes[0].command).toBe("test -f '/tmp/a b; rm -rf /'");
    expect(params.probes[1].url).toBe('https://127.0.0.1:6443/readyz');
  });
});
