import { CertificateRecord, type Etcd3, keys, parseStored, readPrefix } from '@nap/common';

/** Certificates in etcd (`/nap/certs/<domain>`, `/nap/tls/default`); the only writer of them. */
export class CertsRepository {
  constructor(private readonly etcd: Etcd3) {}

  async list(): Promise<CertificateRecord[]> {
    const raw = await readPrefix(this.etcd, keys.certs());
    return Object.values(raw).flatMap((v) => parseStored(CertificateRecord, v) ?? []);
  }

  async get(domain: string): Promise<CertificateRecord | null> {
    return parseStored(CertificateRecord, await this.etcd.get(keys.cert(domain)).string());
  }

  /** Adds or replaces the certificate of a domain. */
  async put(record: CertificateRecord): Promise<void> {
    await this.etcd.put(keys.cert(record.domain)).value(JSON.stringify(record));
  }

  /** Writes it only if the domain has none (nap's own order never takes the place of an upload made meanwhile). */
  async create(record: CertificateRecord): Promise<boolean> {
    const key = keys.cert(record.domain);
    return (await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(record))).commit()).succeeded;
  }

  /** Replaces it only while it is still `expected` (its chain): a renewal never undoes a newer upload. */
  async replace(record: CertificateRecord, expected: CertificateRecord): Promise<boolean> {
    const key = keys.cert(record.domain);
    const result = await this.etcd.if(key, 'Value', '==', JSON.stringify(expected)).then(this.etcd.put(key).value(JSON.stringify(record))).commit();
    return result.succeeded;
  }

  /** Deletes it only while it is still `expected` (an upload made meanwhile stays). */
  async deleteIf(expected: CertificateRecord): Promise<boolean> {
    const key = keys.cert(expected.domain);
    return (await this.etcd.if(key, 'Value', '==', JSON.stringify(expected)).then(this.etcd.delete().key(key)).commit()).succeeded;
  }

  async delete(domain: string): Promise<boolean> {
    return (await this.etcd.delete().key(keys.cert(domain)).exec()).deleted !== '0';
  }

  async getDefault(): Promise<CertificateRecord | null> {
    return parseStored(CertificateRecord, await this.etcd.get(keys.defaultCert()).string());
  }

  /** The default certificate, written only if there is none yet (two controllers starting at once make one). */
  async createDefault(record: CertificateRecord): Promise<boolean> {
    const key = keys.defaultCert();
    return (await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(record))).commit()).succeeded;
  }

  async putDefault(record: CertificateRecord): Promise<void> {
    await this.etcd.put(keys.defaultCert()).value(JSON.stringify(record));
  }
}
