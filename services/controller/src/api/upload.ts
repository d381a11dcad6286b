import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tooLarge } from '@nap/common';
import type { Request } from 'express';

/**
 * Streams a request body to `file` (never buffered in memory) and refuses it with 413 once it
 * passes `limitBytes`. Past the limit the rest is read and dropped rather than the socket cut, so
 * the client sees the 413 instead of a reset; a client sending far more than that is cut off.
 */
export async function receiveBody(req: Request, file: string, limitBytes: number): Promise<number> {
  const limitMb = Math.max(1, Math.round(limitBytes / 1024 / 1024));
  const advice = `the limit is ${limitMb} MB: leave big files out with .napignore`;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limitBytes) {
    req.resume();
    throw tooLarge(`the upload is ${Math.ceil(declared / 1024 / 1024)} MB; ${advice}`);
  }
  let received = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (received > limitBytes * 4) done(tooLarge(`the upload passes ${advice}`));
      else done(null, received > limitBytes ? undefined : chunk);
    },
  });
  await pipeline(req, counter, createWriteStream(file));
  if (received > limitBytes) throw tooLarge(`the upload passes ${advice}`);
  return received;
}
