/** Output for people, or JSON with --json; progress goes to stderr so stdout stays clean for scripts. */
export interface Output {
  json: boolean;
  progress(line: string): void;
  result(human: string, data: unknown): void;
}

export function output(json: boolean): Output {
  return {
    json,
    progress(line) {
      if (!json) process.stderr.write(`${line}\n`);
    },
    result(human, data) {
      process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : human.endsWith('\n') ? human : `${human}\n`);
    },
  };
}

/** A plain text table: columns as wide as their widest cell. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}
