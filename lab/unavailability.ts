/**
 * Unavailability windows of a traffic target: how long a client that talks straight to one server
 * (no load balancer, no retry) could not get an answer: the real labs' traffic (lab/real/traffic.ts),
 * whose direct requests to each apiserver it reads. (The etcd-only lab has no apiserver: its
 * generator, lab/stand-ins/traffic.ts, reports none.)
 */

export interface UnavailabilityWindow {
  target: string;
  /** ISO times of the first failed request and of the next successful one (null: still failing at the end). */
  from: string;
  to: string | null;
  seconds: number;
  failures: number;
}

/**
 * The spans during which a target's requests failed: maximal runs of failed requests in the order they
 * started, each from the first failed request's start to the start of the next request that succeeded
 * (`to` null and `seconds` up to the last failure while it still fails).
 */
export function unavailabilityWindows(target: string, samples: ReadonlyArray<{ t: number; ok: boolean }>): UnavailabilityWindow[] {
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  const out: UnavailabilityWindow[] = [];
  let open: { from: number; last: number; failures: number } | undefined;
  for (const s of sorted) {
    if (!s.ok) {
      open = open ? { ...open, last: s.t, failures: open.failures + 1 } : { from: s.t, last: s.t, failures: 1 };
    } else if (open) {
      out.push({ target, from: new Date(open.from).toISOString(), to: new Date(s.t).toISOString(), seconds: (s.t - open.from) / 1000, failures: open.failures });
      open = undefined;
    }
  }
  if (open) out.push({ target, from: new Date(open.from).toISOString(), to: null, seconds: (open.last - open.from) / 1000, failures: open.failures });
  return out;
}

/** Seconds of unavailability per target, summed over its windows (targets with none are absent), and their total. */
export function unavailableSeconds(windows: ReadonlyArray<UnavailabilityWindow>): { byTarget: Record<string, number>; total: number } {
  const byTarget: Record<string, number> = {};
  for (const w of windows) byTarget[w.target] = +((byTarget[w.target] ?? 0) + w.seconds).toFixed(1);
  return { byTarget, total: +windows.reduce((a, w) => a + w.seconds, 0).toFixed(1) };
}
