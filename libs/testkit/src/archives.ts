import { gzipSync } from 'node:zlib';

/**
 * Gzip'd tars written header by header, for archives no filesystem holds (link targets past
 * PATH_MAX, tens of thousands of links): what an attacker uploads without ever extracting it.
 */

function pad(buf: Buffer): Buffer {
  const rest = buf.length % 512;
  return rest === 0 ? buf : Buffer.concat([buf, Buffer.alloc(512 - rest)]);
}

function header(name: string, type: string, size: number, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => h.write(value.slice(0, length), offset, length, 'utf8');
  const octal = (n: number, offset: number, length: number) => put(`${n.toString(8).padStart(length - 1, '0')}\0`, offset, length);
  put(name, 0, 100);
  octal(type === '2' ? 0o777 : 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  h.fill(' ', 148, 156);
  put(type, 156, 1);
  put(linkname, 157, 100);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return `${length}${body}`;
}

/** A gzip'd tar of symbolic links `path -> target`, with PAX records for names past 100 bytes. */
export function symlinkArchive(links: { path: string; target: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { path, target } of links) {
    if (Buffer.byteLength(path) > 99 || Buffer.byteLength(target) > 99) {
      const records = Buffer.from(paxRecord('path', path) + paxRecord('linkpath', target));
      blocks.push(header('PaxHeader', 'x', records.length), pad(records));
    }
    blocks.push(header(path, '2', 0, target));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** The upload that held the controller's event loop for seconds before links were resolved in linear time. */
export function slowSymlinkArchive(components = 20_000): Buffer {
  return symlinkArchive([{ path: 'x', target: '.' }, { path: 'y', target: `${'a/'.repeat(components)}a` }]);
}

/**
 * Many links with long targets (4 KB each) through a chain of 30 links, all inside. 250 of them are
 * about the most link resolution the default caps (1 MiB of targets in all) let an archive ask for.
 */
export function wideSymlinkArchive(links = 250): Buffer {
  const deep = `${'a/'.repeat(2_000)}a`;
  const chain = Array.from({ length: 30 }, (_, i) => ({ path: `c${i}`, target: i === 0 ? '.' : `c${i - 1}` }));
  return symlinkArchive([...Array.from({ length: links }, (_, i) => ({ path: `w${i}`, target: `c29/${deep}` })), ...chain]);
}
