import { Backoff, BLOB_BUCKET, type Bus, connectEtcdAsRoot, engineUrlsOf, type Logger, promoteEtcdLearners, RepeatedFailureLog, type Settings, sleep } from '@nap/common';
import type { NodesRepository } from '../store/nodes-repository.js';

const EVERY_MS = 5_000;
/** Three copies of every blob once three NATS servers can hold them: any one engines host may go. */
const BLOB_REPLICAS = 3;
const BLOB_STREAM = `OBJ_${BLOB_BUCKET}`;

/**
 * What a growing set of engines nodes needs after each join: etcd learners promoted to voting
 * members once they have caught up, and the blobstore's stream given three replicas once three
 * engines nodes exist. Every controller runs it: both steps are idempotent, and etcd and
 * JetStream refuse what is not ready yet (the next round tries again).
 */
export class EnginesUpkeep {
  private readonly stopping = new AbortController();
  private running: Promise<void> | null = null;
  private readonly failures: RepeatedFailureLog;

  constructor(private readonly deps: { nodes: NodesRepository; bus: Bus; settings: Settings; log: Logger }) {
    this.failures = new RepeatedFailureLog(deps.log, 60_000);
  }

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    const backoff = new Backoff({ minMs: EVERY_MS, maxMs: 60_000 });
    while (!this.stopping.signal.aborted) {
      try {
        await this.once();
        this.failures.recovered('keeping the engines clusters', 'the engines clusters are kept again');
        backoff.reset();
        await sleep(EVERY_MS, this.stopping.signal);
      } catch (err) {
        this.failures.failed('keeping the engines clusters', err);
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
  }

  async once(): Promise<void> {
    const engines = (await this.deps.nodes.list()).filter((n) => n.roles.includes('engines'));
    if (engines.length < 2) return;
    const secrets = await this.deps.nodes.secrets();
    if (!secrets) return;
    const root = connectEtcdAsRoot(engines.map((n) => engineUrlsOf(this.deps.settings).etcd(n.address)), secrets.etcd_root, this.deps.settings.tls?.ca);
    try {
      const promoted = await promoteEtcdLearners(root);
      if (promoted.length) this.deps.log.info({ members: promoted }, 'etcd learners promoted to voting members');
    } finally {
      root.close();
    }
    if (engines.length >= BLOB_REPLICAS) await this.replicateBlobs();
  }

  private async replicateBlobs(): Promise<void> {
    const jsm = await this.deps.bus.nc.jetstreamManager();
    const info = await jsm.streams.info(BLOB_STREAM);
    if (info.config.num_replicas >= BLOB_REPLICAS) return;
    await jsm.streams.update(BLOB_STREAM, { ...info.config, num_replicas: BLOB_REPLICAS });
    this.deps.log.info({ stream: BLOB_STREAM, replicas: BLOB_REPLICAS }, 'the blobstore is replicated on three NATS servers');
  }
}
