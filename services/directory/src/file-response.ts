import { extname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { OpenedEntry } from './resolve-inside.js';

/**
 * Headers for anything served from an instance directory: its content is the app's, so a browser
 * must neither sniff it into HTML nor run it with this origin's rights.
 */
export function setUntrustedContentHeaders(res: Response, requestedPath: string): void {
  res.type(extname(requestedPath) || 'application/octet-stream');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', 'sandbox');
}

/**
 * Serves an already opened (and confinement-checked) file from its descriptor, with a single byte
 * range when asked (206, or 416 when it cannot be satisfied). Several ranges are answered with the
 * whole file, as RFC 9110 allows. Takes ownership of the descriptor.
 */
export async function sendOpenedFile(req: Request, res: Response, file: OpenedEntry): Promise<void> {
  const { size } = file;
  setUntrustedContentHeaders(res, file.requestedPath);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Last-Modified', file.mtime.toUTCString());
  res.setHeader('Cache-Control', 'no-cache');

  let start = 0;
  let end = size - 1;
  // RFC 9110 §14.1.2: a suffix longer than the file means the whole file (range-parser calls it
  // unsatisfiable). `nap logs` asks for the last 64 KB of logs that are often shorter.
  const suffix = /^bytes=-(\d+)$/.exec(req.headers.range ?? '');
  const ranges = suffix && Number(suffix[1]) >= size && size > 0 ? [{ start: 0, end: size - 1 }] : req.range(size, { combine: true });
  if (ranges === -1) {
    await file.handle.close();
    res.status(416).setHeader('Content-Range', `bytes */${size}`);
    res.end();
    return;
  }
  if (Array.isArray(ranges) && (!('type' in ranges) || ranges.type === 'bytes') && ranges.length === 1) {
    start = ranges[0].start;
    end = ranges[0].end;
    res.status(206).setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  } else {
    res.status(200);
  }
  res.setHeader('Content-Length', String(size === 0 ? 0 : end - start + 1));
  if (req.method === 'HEAD' || size === 0) {
    await file.handle.close();
    res.end();
    return;
  }
  // The stream closes the descriptor when it ends or is destroyed.
  const body = file.handle.createReadStream({ start, end });
  try {
    await pipeline(body, res);
  } catch (err) {
    if (!res.destroyed && !res.writableFinished) throw err; // a client that went away is not an error
  }
}
