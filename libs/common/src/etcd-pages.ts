import { type Etcd3, Range } from 'etcd3';

/**
 * Prefix reads in pages. One Range over a whole prefix answers in one gRPC message, and past
 * etcd3's 4 MiB receive limit the client closes every channel and opens its circuit breaker: six
 * apps with a megabyte of routes each took the controller down that way. A page is `pageSize`
 * keys, and each record kind has a size cap at its writer (see docs/security.md), so no answer
 * nears the limit. Every page reads the revision of the first, so the whole is one snapshot.
 */
export const DEFAULT_PAGE_KEYS = 64;

type Reader = Pick<Etcd3, 'getAll'>;

/** Keys alone are small: a page of them can be long. */
const KEYS_ONLY_PAGE = 1_000;

/** Every key under `prefix` with its value, read `pageSize` keys at a time, in key order. */
export async function readPrefix(etcd: Reader, prefix: string, pageSize = DEFAULT_PAGE_KEYS): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const page of prefixPages(etcd, prefix, pageSize)) for (const [k, v] of page) out[k] = v;
  return out;
}

/** Every key under `prefix` with its value and mod revision (to tell a changed record from a known one). */
export async function readPrefixWithRevisions(etcd: Reader, prefix: string, pageSize = DEFAULT_PAGE_KEYS): Promise<Map<string, { value: string; revision: string }>> {
  const out = new Map<string, { value: string; revision: string }>();
  for await (const page of prefixPages(etcd, prefix, pageSize)) for (const [k, value, revision] of page) out.set(k, { value, revision });
  return out;
}

/** Every key under `prefix` with its value, in pages, and the revision the whole was read at (a watch starts after it). */
export async function readPrefixSnapshot(etcd: Reader, prefix: string, pageSize = DEFAULT_PAGE_KEYS): Promise<{ entries: Map<string, string>; revision: string }> {
  const entries = new Map<string, string>();
  let revision = '0';
  for await (const page of prefixPages(etcd, prefix, pageSize, false, (r) => (revision = r))) for (const [k, v] of page) entries.set(k, v);
  return { entries, revision };
}

/** The keys under `prefix`, in key order, without their values. */
export async function readPrefixKeys(etcd: Reader, prefix: string, pageSize = KEYS_ONLY_PAGE): Promise<string[]> {
  return [...(await readPrefixRevisions(etcd, prefix, pageSize)).keys()];
}

/** The keys under `prefix` with their mod revisions, without their values: cheap whatever the records weigh. */
export async function readPrefixRevisions(etcd: Reader, prefix: string, pageSize = KEYS_ONLY_PAGE): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const page of prefixPages(etcd, prefix, pageSize, true)) for (const [k, , revision] of page) out.set(k, revision);
  return out;
}

async function* prefixPages(etcd: Reader, prefix: string, pageSize: number, keysOnly = false, atRevision?: (revision: string) => void): AsyncGenerator<[string, string, string][]> {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new Error(`page size ${pageSize} is not a positive integer`);
  const end = Range.prefix(prefix).end;
  let start = Buffer.from(prefix);
  let revision: string | undefined;
  for (;;) {
    const builder = etcd.getAll().inRange(new Range(start, end)).limit(pageSize).sort('Key', 'Ascend');
    if (revision !== undefined) builder.revision(revision);
    // etcd3's builder sets keys_only only inside keys(), which reads one page and drops `more`.
    if (keysOnly) (builder as unknown as { request: { keys_only?: boolean } }).request.keys_only = true;
    const res = await builder.exec();
    if (revision === undefined) {
      revision = String(res.header.revision);
      atRevision?.(revision);
    }
    yield res.kvs.map((kv) => [kv.key.toString(), kv.value.toString(), String(kv.mod_revision)]);
    if (!res.more || res.kvs.length === 0) return;
    // The next page starts just after the last key: the same key with a 0 byte appended.
    start = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
  }
}

/** The most an app record (and a release, which copies its configuration) may weigh in etcd: its writer refuses more with 413. */
export const MAX_APP_RECORD_BYTES = 256 * 1024;
/** App records and releases per page: 12 × 256 KiB = 3 MiB, under the 4 MiB a client receives. */
export const APP_RECORDS_PER_PAGE = 12;
