/** A line of an instance log as the DEA writes it: `<ISO time> <text>`. Read by the CLI and the dashboard (no Node API here). */
export interface LogLine {
  time: string;
  source: string;
  text: string;
}

const STAMPED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$/;

/**
 * Splits log text into lines tagged with `source` (e.g. `0/out`). `partialStart` drops a first line
 * that a byte range may have cut in the middle. A line without a time stamp (the rest of a line too
 * long for one write) keeps the time of the line before it.
 */
export function parseLogText(text: string, source: string, partialStart: boolean): LogLine[] {
  const raw = text.split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  if (partialStart && raw.length > 0) raw.shift();
  const lines: LogLine[] = [];
  let lastTime = '';
  for (const r of raw) {
    const m = STAMPED.exec(r);
    if (m) {
      lastTime = m[1];
      lines.push({ time: m[1], source, text: m[2] });
    } else {
      lines.push({ time: lastTime, source, text: r });
    }
  }
  return lines;
}

/** Merges by time; lines of equal time keep the order they came in. */
export function mergeByTime(groups: LogLine[][]): LogLine[] {
  return groups
    .flat()
    .map((l, i) => ({ l, i }))
    .sort((a, b) => (a.l.time < b.l.time ? -1 : a.l.time > b.l.time ? 1 : a.i - b.i))
    .map((x) => x.l);
}

export function formatLine(l: LogLine): string {
  return `${l.time} [${l.source}] ${l.text}`;
}

/** Turns a stream of chunks into whole lines, keeping an unfinished one until its end arrives. */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    return parts;
  }
}
