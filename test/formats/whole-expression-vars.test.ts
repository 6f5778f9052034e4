/**
 * A var whose whole value is one `{{ expr }}` is its value wherever it is read (src/formats/template.ts resolveWholeExpressionVars, used by src/engine/scope.ts and `kcarun validate`):
 * the kubespray profile's `etcd_leaf_certs` is such a var, and check-expiry concatenates it with the
 * other lists, renew-detect loops over it.
 */
import { describe, expect, it } from 'vitest';
import { evaluate, renderString, resolveWholeExpressionVars } from '../../src/formats/template.js';

const base = () => ({
  groups: { etcd: ['cp1', 'cp2'] },
  etcd_leaf_certs: "{{ groups.etcd | format_each: '/s/member-%s.pem', '/s/node-%s.pem' }}",
  k8s_leaf_certs: ['/k/apiserver.crt'],
  both: '{{ etcd_leaf_certs | concat: k8s_leaf_certs }}',
  later: '{{ not_registered_yet.paths }}',
  loop_a: '{{ loop_b }}',
  loop_b: '{{ loop_a }}',
});
const NAMES = ['etcd_leaf_certs', 'k8s_leaf_certs', 'both', 'later', 'loop_a', 'loop_b'];

describe('vars that are one whole expression', () => {
  it('are their value as a filter input and in a loop: a flat list, not the template text inside a list', () => {
    const scope = resolveWholeExpressionVars(base(), NAMES);
    expect(renderString('{{ etcd_leaf_certs | concat: k8s_leaf_certs }}', scope)).toEqual(['/s/member-cp1.pem', '/s/member-cp2.pem', '/s/node-cp1.pem', '/s/node-cp2.pem', '/k/apiserver.crt']);
    expect(renderString('{{ both }}', scope)).toHaveLength(5);
    expect(renderString('{% for f in etcd_leaf_certs %}[{{ f }}]{% endfor %}', scope)).toBe('[/s/member-cp1.pem][/s/member-cp2.pem][/s/node-cp1.pem][/s/node-cp2.pem]');
    expect(evaluate('etcd_leaf_certs.size == 4', scope)).toBe(true);
  });

  it('a var that cannot be rendered yet, or a cycle, reads as its text, and fails only where it is used, as before', () => {
    const scope = resolveWholeExpressionVars(base(), NAMES);
    expect({ ...scope }.later).toBe('{{ not_registered_yet.paths }}');
    expect(() => renderString('{{ later }}', scope)).toThrow(/not_registered_yet/);
    expect(() => renderString('{{ loop_a }}', scope)).toThrow(/more than 8 levels deep/);
  });

  it('leaves the other vars as they are', () => {
    const before = base();
    const scope = resolveWholeExpressionVars(base(), ['k8s_leaf_certs']);
    expect(scope.etcd_leaf_certs).toBe(before.etcd_leaf_certs);
    expect(scope.k8s_leaf_certs).toEqual(['/k/apiserver.crt']);
  });
});
