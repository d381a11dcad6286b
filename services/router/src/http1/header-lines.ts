/**
 * Header lines as both parsers keep them: `Name: value\r\n` text, in the order and spelling they
 * came, scanned once. The helpers here read and filter such text.
 */

/** RFC 9110 token characters, as a regular-expression fragment: what a header name is made of. */
export const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** A field value's characters (visible, spaces, tabs, obs-text): no control characters, no CR or LF. */
export const FIELD_CHARS = '[\\t\\x20-\\x7e\\x80-\\xff]*';
export const HEAD_END = Buffer.from('\r\n\r\n');
/** A Content-Length: digits only, no sign, no list. */
export const decimal = /^\d{1,15}$/;

/** The lowercase name of a header line whose colon is at `colon`. */
export function lowerName(line: string, colon: number): string {
  return line.slice(0, colon).toLowerCase();
}

/** The field value without the optional whitespace around it (spaces and tabs only). */
export function fieldValue(line: string, colon: number): string {
  let start = colon + 1;
  let end = line.length;
  while (start < end && isOws(line.charCodeAt(start))) start++;
  while (end > start && isOws(line.charCodeAt(end - 1))) end--;
  return line.slice(start, end);
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** The lines less those with one of `names` (lowercase): hop-by-hop ones a Connection header lists. */
export function withoutNamed(lines: string, names: ReadonlySet<string>): string {
  let kept = '';
  for (const line of lines.split('\r\n')) {
    if (line === '') continue;
    if (!names.has(lowerName(line, line.indexOf(':')))) kept += `${line}\r\n`;
  }
  return kept;
}

/** Name, value, name, value… of the lines. */
export function headerPairs(lines: string): string[] {
  const pairs: string[] = [];
  for (const line of lines.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    pairs.push(line.slice(0, colon), fieldValue(line, colon));
  }
  return pairs;
}
