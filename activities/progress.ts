// Progress of long work (a dump streamed to the store, an image download or upload) in the words a person
// reads: bytes done of total, the rate over the last seconds, and an estimate of what is left. It is the
// activity's heartbeat detail, so the Web UI's Pending Activities panel shows it and `runbook watch`
// draws it; the total is known for files (stat, Content-Length) and estimated for a database dump.
export interface ProgressDetails {
  /** One line: "412 MiB of 1.0 GiB (40%), 38 MiB/s, about 16 s left". */
  progress: string;
  bytesDone: number;
  bytesTotal?: number;
  bytesPerSecond: number;
  etaSeconds?: number;
  /** The command's latest output line (ReaR's, rsync's), when there is one. */
  line?: string;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

export function formatSeconds(s: number): string {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** Rate over a sliding window of samples: the rate of the last ~15 s, not the average since the start. */
export class TransferProgress {
  private readonly samples: { at: number; bytes: number }[] = [];
  private done = 0;

  constructor(
    private total?: number,
    private readonly windowMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {
    this.samples.push({ at: now(), bytes: 0 });
  }

  /** A better estimate of the total (e.g. once the source's size is read). */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  update(bytesDone: number): void {
    this.done = bytesDone;
    const at = this.now();
    this.samples.push({ at, bytes: bytesDone });
    while (this.samples.length > 2 && at - this.samples[1]!.at > this.windowMs) this.samples.shift();
  }

  details(line?: string): ProgressDetails {
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const span = (last.at - first.at) / 1000;
    const rate = span > 0 ? (last.bytes - first.bytes) / span : 0;
    const total = this.total && this.total > 0 ? this.total : undefined;
    const eta = total && rate > 0 ? Math.max(0, (total - this.done) / rate) : undefined;
    const parts = [
      total
        ? `${formatBytes(this.done)} of ${formatBytes(total)} (${Math.min(100, Math.floor((this.done / total) * 100))}%)`
        : `${formatBytes(this.done)} so far`,
      `${formatBytes(rate)}/s`,
      ...(eta !== undefined ? [`about ${formatSeconds(eta)} left`] : []),
    ];
    return {
      progress: parts.join(', '),
      bytesDone: this.done,
      ...(total ? { bytesTotal: total } : {}),
      bytesPerSecond: Math.round(rate),
      ...(eta !== undefined ? { etaSeconds: Math.round(eta) } : {}),
      ...(line ? { line } : {}),
    };
  }
}
