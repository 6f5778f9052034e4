import type { FileStat, Transport } from './types.js';

/**
 * A remote file's stat and content, asked for together (one round trip less per host than one
 * after the other). `content` is null when the file does not exist; a read that fails for another
 * reason throws.
 */
export async function statAndRead(transport: Transport, path: string, become: boolean | undefined): Promise<{ st: FileStat | null; content: Buffer | null }> {
  const [st, read] = await Promise.all([
    transport.stat(path, { become }),
    // Settled here so a read of a missing file is not an unhandled rejection while stat answers.
    transport.readFile(path, { become }).then(
      (data) => ({ data }),
      (error: unknown) => ({ error }),
    ),
  ]);
  if (st === null) return { st, content: null };
  if ('error' in read) throw read.error;
  return { st, content: read.data };
}
