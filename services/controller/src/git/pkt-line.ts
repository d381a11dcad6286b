import { badRequest } from '@nap/common';
/**
 * The few pieces of git's pkt-line protocol (gitprotocol-common, gitprotocol-pack) that a push
 * needs: the ref updates a client sends, the side-band packets receive-pack answers with, and the
 * report of refused updates. Enough to hold receive-pack's report back until the pushed commit is
 * deployed, and to answer a refused push the way git shows it (`! [remote rejected]`).
 */

export const ZERO_ID = '0000000000000000000000000000000000000000';
const FLUSH = Buffer.from('0000');
/** side-band allows 1000-byte packets, side-band-64k 65520: progress lines fit the smaller. */
const BAND_CHUNK = 990;

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

export interface PushRequest {
  updates: RefUpdate[];
  capabilities: Set<string>;
}

/** One packet of an answer: a flush, or data (on a side-band when one was asked for). */
export type Packet = { flush: true } | { flush: false; data: Buffer };

/** Splits pkt-lines from the start of `buf`; stops at the first flush when `untilFlush`. */
export function readPackets(buf: Buffer, untilFlush = false): { packets: Packet[]; rest: number } {
  const packets: Packet[] = [];
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = Number.parseInt(buf.subarray(at, at + 4).toString('latin1'), 16);
    if (!Number.isInteger(len) || (len !== 0 && len < 4)) throw badRequest('invalid_push', 'the request is not git pkt-line data: push with git');
    if (len === 0) {
      packets.push({ flush: true });
      at += 4;
      if (untilFlush) break;
      continue;
    }
    if (at + len > buf.length) break;
    packets.push({ flush: false, data: buf.subarray(at + 4, at + len) });
    at += len;
  }
  return { packets, rest: at };
}

/** The ref updates at the start of a receive-pack request (`old new ref\0capabilities`, …, flush). */
export function readPushRequest(body: Buffer): PushRequest {
  const updates: RefUpdate[] = [];
  const capabilities = new Set<string>();
  for (const p of readPackets(body.subarray(0, Math.min(body.length, 1024 * 1024)), true).packets) {
    if (p.flush) break;
    let line = p.data.toString('utf8').replace(/\n$/, '');
    const nul = line.indexOf('\0');
    if (nul >= 0) {
      for (const c of line.slice(nul + 1).split(' ')) if (c) capabilities.add(c);
      line = line.slice(0, nul);
    }
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/\S+)$/.exec(line);
    if (m) updates.push({ old: m[1], new: m[2], ref: m[3] });
  }
  return { updates, capabilities };
}

export function pktLine(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from((bytes.length + 4).toString(16).padStart(4, '0')), bytes]);
}

export const flushPacket = (): Buffer => FLUSH;

/** Text on side-band 2, which git prints as `remote: …` lines. */
export function progressPackets(text: string): Buffer {
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += BAND_CHUNK) out.push(pktLine(Buffer.concat([Buffer.from([2]), bytes.subarray(at, at + BAND_CHUNK)])));
  return Buffer.concat(out);
}

/** receive-pack's report with every update refused for `reason` (one line: git shows it in parentheses). */
export function refusalReport(updates: RefUpdate[], reason: string): Buffer {
  const oneLine = reason.replace(/\s+/g, ' ').trim().slice(0, 200);
  return Buffer.concat([pktLine('unpack ok\n'), ...updates.map((u) => pktLine(`ng ${u.ref} ${oneLine}\n`)), FLUSH]);
}

/** Wraps a report for the client: on side-band 1 when it asked for a side-band, as it is otherwise. */
export function onReportBand(report: Buffer, sideband: boolean): Buffer {
  if (!sideband) return report;
  const out: Buffer[] = [];
  for (let at = 0; at < report.length; at += BAND_CHUNK) out.push(pktLine(Buffer.concat([Buffer.from([1]), report.subarray(at, at + BAND_CHUNK)])));
  return Buffer.concat(out);
}

export function wantsSideband(req: PushRequest): boolean {
  return req.capabilities.has('side-band-64k') || req.capabilities.has('side-band');
}

export function wantsReport(req: PushRequest): boolean {
  return req.capabilities.has('report-status') || req.capabilities.has('report-status-v2');
}
