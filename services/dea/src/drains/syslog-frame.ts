import { hostname } from 'node:os';

export interface DrainLine {
  appName: string;
  /** web.0, worker.1, task.3 */
  source: string;
  stream: 'stdout' | 'stderr';
  text: string;
  at: Date;
}

// facility user (1); severity informational (6) for stdout, error (3) for stderr.
const PRI = { stdout: 14, stderr: 11 } as const;
const HOST = hostname().replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';

/** A header field of RFC 5424: printable ASCII without spaces, at most `max`, or the nil value. */
function field(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/**
 * One line as an RFC 5424 message (`<14>1 TIME HOST APP PROC MSGID - TEXT`), with the app's name as
 * APP-NAME, the process and index as PROCID (as Heroku's `web.1`), the stream as MSGID; framed with
 * its octet count (RFC 6587), which survives newlines and is what TCP and TLS drains take.
 */
export function syslogFrame(line: DrainLine): Buffer {
  const message = `<${PRI[line.stream]}>1 ${line.at.toISOString()} ${HOST} ${field(line.appName, 48)} ${field(line.source, 128)} ${line.stream} - ${line.text}`;
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}
