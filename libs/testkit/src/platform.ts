import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, isAlive, spawnDetached, stopPid, waitForPort } from '@nap/common';
import Docker from 'dockerode';
import { type Engines, startEngines } from './engines.js';
import { eventually, httpGet } from './http.js';

export const repoRoot = new URL('../../../../', import.meta.url).pathname;

const services = {
  controller: 'services/controller/dist/src/main.js',
  dea: 'services/dea/dist/src/main.js',
  directory: 'services/directory/dist/src/main.js',
  router: 'services/router/dist/src/main.js',
} as const;
type ServiceName = keyof typeof services;

/** As `nap up` does: a secret reaches only the services that use it. */
const secretsOf: Record<ServiceName, string[]> = {
  controller: ['NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET'],
  directory: ['NAP_DIRECTORY_SECRET'],
  dea: [],
  router: [],
};

/**
 * A whole single-node nap for end-to-end tests: real nats-server, etcd and Docker, every service
 * as its own process on free ports. Containers carry this run's installation label, and stop()
 * removes those and nothing else.
 */
export class TestPlatform {
  private readonly pids = new Map<string, number>();

  private constructor(
    readonly engines: Engines,
    readonly env: Record<string, string>,
    readonly controllerUrl: string,
    readonly routerUrl: string,
    readonly adminToken: string,
    readonly installationId: string,
  ) {}

  get home(): string {
    return this.env.NAP_HOME;
  }

  /** `extraEnv` sets or overrides settings of every service, e.g. a small NAP_INSTANCE_LOG_MAX_MB. */
  static async start(extraEnv: Record<string, string> = {}): Promise<TestPlatform> {
    const engines = await startEngines();
    const installationId = `test-${randomBytes(4).toString('hex')}`;
    const home = join(engines.dir, 'home');
    await mkdir(home, { recursive: true });
    const portBase = 20_000 + Math.floor(Math.random() * 39) * 1000;
    const ports = {
      controller: await freePort(),
      router: await freePort(),
      routerStatus: await freePort(),
      directory: await freePort(),
    };
    const adminToken = randomBytes(24).toString('hex');
    const env: Record<string, string> = {
      ...engines.env,
      NAP_HOME: home,
      NAP_CONTROLLER_PORT: String(ports.controller),
      NAP_ROUTER_PORT: String(ports.router),
      NAP_ROUTER_STATUS_PORT: String(ports.routerStatus),
      NAP_DIRECTORY_PORT: String(ports.directory),
      NAP_DIRECTORY_SECRET: randomBytes(24).toString('hex'),
      NAP_ADMIN_TOKEN: adminToken,
      NAP_DEA_PORT_RANGE: `${portBase}-${portBase + 999}`,
      NAP_DEA_MEMORY_MB: '8192',
      NAP_INSTALLATION_ID: installationId,
      NAP_LOG_LEVEL: 'info',
      ...extraEnv,
    };
    const platform = new TestPlatform(
      engines,
      env,
      `http://127.0.0.1:${ports.controller}`,
      `http://127.0.0.1:${ports.router}`,
      adminToken,
      installationId,
    );
    try {
      for (const name of ['router', 'directory', 'controller', 'dea'] as const) platform.startService(name);
      await platform.waitFor('router', ports.router);
      await platform.waitFor('directory', ports.directory);
      await platform.waitFor('controller', ports.controller);
      await eventually(
        async () => {
          const r = await httpGet(`${platform.controllerUrl}/v1/deas`, { Authorization: `Bearer ${adminToken}` });
          return r.status === 200 && (JSON.parse(r.body) as unknown[]).length > 0;
        },
        30_000,
        'the DEA to advertise',
      ).catch(async (err) => {
        throw new Error(`${(err as Error).message}\n${await platform.logTail('dea')}`);
      });
    } catch (err) {
      await platform.stop();
      throw err;
    }
    return platform;
  }

  startService(name: ServiceName, extraEnv: Record<string, string> = {}): number {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.env, ...extraEnv };
    for (const secret of ['NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET']) if (!secretsOf[name].includes(secret)) delete env[secret];
    const pid = spawnDetached(process.execPath, [join(repoRoot, services[name])], {
      logFile: join(this.engines.dir, 'logs', `${name}.log`),
      env,
      cwd: repoRoot,
    });
    this.pids.set(name, pid);
    return pid;
  }

  async stopService(name: string): Promise<void> {
    const pid = this.pids.get(name);
    if (pid !== undefined) await stopPid(pid);
    this.pids.delete(name);
  }

  private async waitFor(name: ServiceName, port: number): Promise<void> {
    const pid = this.pids.get(name)!;
    if (!(await waitForPort('127.0.0.1', port, 30_000, () => isAlive(pid)))) {
      throw new Error(`${name} did not start:\n${await this.logTail(name)}`);
    }
  }

  async logTail(name: string, lines = 30): Promise<string> {
    const text = await readFile(join(this.engines.dir, 'logs', `${name}.log`), 'utf8').catch(() => '(no log)');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** Env for running the CLI against this platform. */
  cliEnv(): Record<string, string> {
    return { ...this.env, NAP_API: this.controllerUrl, NAP_TOKEN: this.adminToken };
  }

  async stop(): Promise<void> {
    // DEA first: it stops its own containers; whatever is left of this run is removed by label.
    const order = ['dea', 'controller', 'directory', 'router'];
    for (const name of order) await this.stopService(name);
    await removeContainers(this.installationId);
    await this.engines.stop();
  }
}

export async function removeContainers(installationId: string): Promise<void> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const own = await docker.listContainers({ all: true, filters: { label: [`nap.installation=${installationId}`] } });
  await Promise.all(own.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
}
