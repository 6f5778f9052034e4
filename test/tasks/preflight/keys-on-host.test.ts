import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KcarunErrorList } from '../../../src/core/errors.js';
import { preflightTask } from '../../../src/tasks/preflight/index.js';
import { LocalTransport } from '../../../src/transport/local.js';
import type { Transport } from '../../../src/transport/types.js';
import { makeTaskContext, makeTempDir } from '../../helpers/task-context.js';
import { opensslCa, opensslLeaf } from '../../pki/openssl.js';

/** The real local transport, recording every path kcarun reads through it. */
function recordingTransport(): { transport: Transport; reads: string[] } {
  const reads: string[] = [];
  const inner = new LocalTransport();
  const transport = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'readFile' && typeof value === 'function') {
        return (path: string, ...rest: unknown[]) => {
          reads.push(path);
          return (value as (...a: unknown[]) => unknown).call(target, path, ...rest);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { transport, reads };
}

describe('preflight compares keys on the host', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let ca: { cert: string; key: string };
  let leaf: { cert: string; key: string };
  let otherKey: string;

  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir('kcarun-preflight-keys-'));
    ca = await opensslCa(dir, 'ca', '/CN=kubernetes');
    leaf = await opensslLeaf(dir, 'apiserver', ca, { subj: '/CN=kube-apiserver', sans: ['DNS:kubernetes'] });
    otherKey = (await opensslLeaf(dir, 'other', ca, { subj: '/CN=other' })).key;
  });
  afterEach(() => cleanup());

  const run = async (transport: Transport, params: Record<string, unknown>) => {
    const ctx = await makeTaskContext({ params: { hosts: ['local'], lock: false, ...params } as never, stateDir: join(dir, 'state'), transport });
    return preflightTask.run(ctx);
  };

  it('passes matching keys without reading any key file into memory', async () => {
    const { transport, reads } = recordingTransport();
    const outcome = await run(transport, {
      certificates: [{ path: leaf.cert, key: leaf.key, ca: ca.cert }],
      caKeys: [{ cert: ca.cert, key: ca.key }],
    });
    expect(outcome.summary).toBe('1 host(s) ready');
    expect(reads).toEqual([leaf.cert, ca.cert, ca.cert]);
    expect(reads.filter((p) => p.endsWith('.key'))).toEqual([]);
  });

  it('names a leaf and a CA whose key does not match, a missing key, and still reads no key', async () => {
    const { transport, reads } = recordingTransport();
    const err = await run(transport, {
      certificates: [
        { path: leaf.cert, key: otherKey, ca: ca.cert },
        { path: leaf.cert, key: join(dir, 'absent.key'), ca: ca.cert },
      ],
      caKeys: [{ cert: ca.cert, key: otherKey }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcarunErrorList);
    expect((err as KcarunErrorList).errors.map((e) => e.message)).toEqual([
      `local: ${leaf.cert}: does not match its key ${otherKey}`,
      `local: ${leaf.cert}: its key ${join(dir, 'absent.key')} is missing`,
      `local: CA key ${otherKey} does not match ${ca.cert}`,
    ]);
    expect(reads.filter((p) => p.endsWith('.key'))).toEqual([]);
  });
});
