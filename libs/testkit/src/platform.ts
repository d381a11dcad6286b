import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINE_SECRET_VARIABLES, type EngineClient, freePort, isAlive, removeContainerNetwork, spawnDetached, stopPid, waitForPort } from '@nap/common';
import Docker from 'dockerode';
import { type EngineOptions, type Engines, startEngines } from './engines.js';
import { eventually, httpGet } from './http.js';

export const repoRoot = new URL('../../../../', import.meta.url).pathname;

const programs = {
  controller: 'services/controller/dist/src/main.js',
  dea: 'services/dea/dist/src/main.js',
  directory: 'services/directory/dist/src/main.js',
  router: 'services/router/dist/src/main.js',
} as const;
type Program = keyof typeof programs;

/** As `nap up` does: a secret reaches only the programs that use it. */
const secretsOf: Record<Program, string[]> = {
  controller: ['NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET', 'NAP_CERT_KEY'],
  directory: ['NAP_DIRECTORY_SECRET'],
  dea: [],
  router: ['NAP_CERT_KEY'],
};

/** Each program's own engine users; the directory talks to neither engine. */
const engineUserOf: Record<Program, EngineClient | null> = { controller: 'controller', dea: 'dea', router: 'router', directory: null };

export interface PlatformOptions {
  /** DEA nodes, each with its own id, directory, zone, port range and directory server. */
  deas?: number;
  /** Controllers: more than one to test the health manager's election. */
  controllers?: number;
  /** Settings for every service, e.g. a small NAP_INSTANCE_LOG_MAX_MB. */
  env?: Record<string, string>;
  /** How the engines are started (a small JetStream store, say). */
  engines?: EngineOptions;
}

interface Service {
  program: Program;
  env: Record<string, string>;
  pid: number | null;
}

/**
 * A whole single-node nap for end-to-end tests: real nats-server, etcd and Docker, every service
 * as its own process on free ports. Containers carry this run's installation label, and stop()
 * removes those and nothing else.
 */
export class TestPlatform {
  private readonly services = new Map<string, Service>();

  private constructor(
    readonly engines: Engines,
    readonly env: Record<string, string>,
    readonly controllerUrls: string[],
    readonly routerUrl: string,
    readonly adminToken: string,
    readonly installationId: string,
  ) {}

  get home(): string {
    return this.env.NAP_HOME;
  }

  get controllerUrl(): string {
    return this.controllerUrls[0];
  }

  /** The router's TLS port (issue 17), on 127.0.0.1. */
  get routerTlsPort(): number {
    return Number(this.env.NAP_ROUTER_TLS_PORT);
  }

  /** Names of the DEA services: dea-1, dea-2, … */
  get deaNames(): string[] {
    return [...this.services.keys()].filter((n) => n.startsWith('dea-'));
  }

  static async start(options: PlatformOptions = {}): Promise<TestPlatform> {
    const deaCount = options.deas ?? 1;
    const controllerCount = options.controllers ?? 1;
    const engines = await startEngines(options.engines);
    const installationId = `test-${randomBytes(4).toString('hex')}`;
    const home = join(engines.dir, 'home');
    await mkdir(home, { recursive: true });
    const adminToken = randomBytes(24).toString('hex');
    // A test may choose it (an ACME server of its own must know where HTTP-01 answers are).
    const routerPort = Number(options.env?.NAP_ROUTER_PORT) || (await freePort());
    const controllerPorts: number[] = [];
    for (let i = 0; i < controllerCount; i++) controllerPorts.push(await freePort());
    const env: Record<string, string> = {
      NAP_NATS_URL: engines.natsUrl,
      NAP_ETCD_URLS: engines.etcdUrl,
      NAP_HOME: home,
      NAP_CONTROLLER_PORT: String(controllerPorts[0]),
      NAP_ROUTER_PORT: String(routerPort),
      NAP_ROUTER_STATUS_PORT: String(await freePort()),
      NAP_DIRECTORY_SECRET: randomBytes(24).toString('hex'),
      NAP_ADMIN_TOKEN: adminToken,
      NAP_DEA_MEMORY_MB: '8192',
      NAP_INSTALLATION_ID: installationId,
      NAP_CONTAINER_SUBNET: await freeContainerSubnet(),
      NAP_LOG_LEVEL: 'info',
      // One router process, not a primary and a worker per core: two more node programs booting
      // with the others cost every platform about 2.5 s of the suite's two cores. The cluster
      // router has tests of its own (services/router/test/cluster.integration.test.ts), and nap up runs it.
      NAP_ROUTER_WORKERS: '1',
      NAP_ROUTER_TLS_PORT: String(await freePort()),
      NAP_CERT_KEY: randomBytes(32).toString('hex'),
      ...options.env,
    };
    const platform = new TestPlatform(
      engines,
      env,
      controllerPorts.map((p) => `http://127.0.0.1:${p}`),
      `http://127.0.0.1:${routerPort}`,
      adminToken,
      installationId,
    );
    try {
      platform.define('router', 'router', {});
      for (let i = 1; i <= controllerCount; i++) {
        platform.define(`controller-${i}`, 'controller', { NAP_CONTROLLER_PORT: String(controllerPorts[i - 1]) });
      }
      const portBlocks = new Set<number>();
      for (let i = 1; i <= deaCount; i++) {
        let block: number;
        do block = 20 + Math.floor(Math.random() * 39);
        while (portBlocks.has(block));
        portBlocks.add(block);
        const directoryPort = await freePort();
        const deaStatusPort = await freePort();
        const deaEnv = {
          NAP_DEA_ID: `dea-${i}-${installationId}`,
          NAP_DEA_DIR: join(home, `dea-${i}`),
          NAP_DEA_ZONE: `zone-${i}`,
          NAP_DEA_PORT_RANGE: `${block * 1000}-${block * 1000 + 999}`,
          NAP_DIRECTORY_PORT: String(directoryPort),
          NAP_DEA_STATUS_PORT: String(deaStatusPort),
        };
        platform.define(`directory-${i}`, 'directory', deaEnv);
        platform.define(`dea-${i}`, 'dea', deaEnv);
      }
      // All at once, as a supervisor starts them: each waits for what it needs by itself.
      for (const name of platform.services.keys()) platform.startService(name);
      await platform.waitForPort('router', routerPort);
      for (let i = 1; i <= controllerCount; i++) await platform.waitForPort(`controller-${i}`, controllerPorts[i - 1]);
      for (let i = 1; i <= deaCount; i++) await platform.waitForPort(`directory-${i}`, Number(platform.services.get(`directory-${i}`)!.env.NAP_DIRECTORY_PORT));
      await platform.waitForDeas(deaCount);
    } catch (err) {
      await platform.stop();
      throw err;
    }
    return platform;
  }

  private define(name: string, program: Program, env: Record<string, string>): void {
    this.services.set(name, { program, env, pid: null });
  }

  /** Starts (or starts again) a service defined at start-up, with `extraEnv` on top of its settings. */
  startService(name: string, extraEnv: Record<string, string> = {}): number {
    const service = this.services.get(name);
    if (!service) throw new Error(`no service ${name}`);
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.env, ...service.env, ...extraEnv, NAP_PARENT_PID: String(process.pid) };
    for (const secret of ['NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET', 'NAP_CERT_KEY']) if (!secretsOf[service.program].includes(secret)) delete env[secret];
    for (const v of ENGINE_SECRET_VARIABLES) delete env[v];
    const engineUser = engineUserOf[service.program];
    if (engineUser) Object.assign(env, this.engines.envOf[engineUser]);
    service.pid = spawnDetached(process.execPath, [join(repoRoot, programs[service.program])], {
      logFile: join(this.engines.dir, 'logs', `${name}.log`),
      env,
      cwd: repoRoot,
    });
    return service.pid;
  }

  /** The settings one service was started with (its ports, say). */
  serviceEnv(name: string): Record<string, string> | undefined {
    const service = this.services.get(name);
    return service && { ...this.env, ...service.env };
  }

  pidOf(name: string): number | null {
    return this.services.get(name)?.pid ?? null;
  }

  /** SIGTERM and wait (a DEA evacuates then), or SIGKILL when `kill` is set. */
  async stopService(name: string, opts: { kill?: boolean } = {}): Promise<void> {
    const service = this.services.get(name);
    if (!service?.pid) return;
    if (opts.kill) {
      try {
        process.kill(service.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      while (isAlive(service.pid)) await new Promise((r) => setTimeout(r, 20));
    } else await stopPid(service.pid, 60_000);
    service.pid = null;
  }

  private async waitForPort(name: string, port: number): Promise<void> {
    const pid = this.services.get(name)!.pid!;
    if (!(await waitForPort('127.0.0.1', port, 30_000, () => isAlive(pid)))) {
      throw new Error(`${name} did not start:\n${await this.logTail(name)}`);
    }
  }

  async waitForDeas(count: number, timeoutMs = 30_000): Promise<void> {
    await eventually(
      async () => {
        const r = await httpGet(`${this.controllerUrl}/v1/deas`, { Authorization: `Bearer ${this.adminToken}` });
        return r.status === 200 && (JSON.parse(r.body) as unknown[]).length >= count;
      },
      timeoutMs,
      `${count} DEA(s) to advertise`,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await this.logTail(this.deaNames[0] ?? 'dea-1')}`);
    });
  }

  /** How long each service's log is now; `loggedSince` counts from it. */
  logSizes(names: string[] = [...this.services.keys()]): Record<string, number> {
    return Object.fromEntries(names.map((n) => [n, statSync(join(this.engines.dir, 'logs', `${n}.log`), { throwIfNoEntry: false })?.size ?? 0]));
  }

  /** Bytes each service logged since `from` (logSizes), less the router's access log: one line per request, outage or not. */
  loggedSince(from: Record<string, number>): Record<string, number> {
    return Object.fromEntries(
      Object.entries(from).map(([n, size]) => [
        n,
        readFileSync(join(this.engines.dir, 'logs', `${n}.log`))
          .subarray(size)
          .toString('utf8')
          .split('\n')
          .filter((line) => line && !line.includes('"component":"accesslog"'))
          .reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0),
      ]),
    );
  }

  async logTail(name: string, lines = 30): Promise<string> {
    const text = await readFile(join(this.engines.dir, 'logs', `${name}.log`), 'utf8').catch(() => '(no log)');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** This run's containers carrying all the given labels. */
  async containers(labels: Record<string, string> = {}): Promise<Docker.ContainerInfo[]> {
    const filters = [`nap.installation=${this.installationId}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    return this.docker.listContainers({ all: true, filters: { label: filters } });
  }

  /** The engine this platform's DEAs use (NAP_DOCKER_SOCKET: a test's own dockerd, or the machine's). */
  get docker(): Docker {
    return docker(this.env.NAP_DOCKER_SOCKET);
  }

  /**
   * A container's network settings: an instance or staging container joins a network sandbox the
   * DEA keeps ready (label `nap.sandbox`), so its address is the sandbox's.
   */
  async networkSettings(id: string): Promise<Docker.ContainerInspectInfo['NetworkSettings']> {
    const info = await this.docker.getContainer(id).inspect();
    const sandbox = info.Config.Labels?.['nap.sandbox'];
    return sandbox ? (await this.docker.getContainer(sandbox).inspect()).NetworkSettings : info.NetworkSettings;
  }

  /** Kills a container from outside, as the kernel or an operator would. */
  async killContainer(id: string): Promise<void> {
    await this.docker.getContainer(id).kill().catch(() => {});
  }

  async removeContainer(id: string): Promise<void> {
    await this.docker.getContainer(id).remove({ force: true }).catch(() => {});
  }

  /** Env for running the CLI against this platform. */
  cliEnv(): Record<string, string> {
    return { ...this.env, NAP_API: this.controllerUrl, NAP_TOKEN: this.adminToken };
  }

  async stop(): Promise<void> {
    // DEAs first: they stop their own containers; whatever is left of this run is removed by label.
    const names = [...this.services.keys()];
    const order = [...names.filter((n) => n.startsWith('dea-')), ...names.filter((n) => !n.startsWith('dea-'))];
    await Promise.all(order.filter((n) => n.startsWith('dea-')).map((n) => this.stopService(n, { kill: true })));
    for (const name of order) await this.stopService(name);
    await removeContainers(this.installationId, this.env.NAP_DOCKER_SOCKET);
    await removeContainerNetwork(this.installationId, this.env.NAP_DOCKER_SOCKET ?? process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock');
    await releaseSubnet(this.env.NAP_CONTAINER_SUBNET);
    await this.engines.stop();
  }
}

function docker(socket?: string): Docker {
  return new Docker({ socketPath: socket ?? process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock' });
}

export async function removeContainers(installationId: string, socket?: string): Promise<void> {
  const engine = docker(socket);
  const own = await engine.listContainers({ all: true, filters: { label: [`nap.installation=${installationId}`] } });
  await Promise.all(own.map((c) => engine.getContainer(c.Id).remove({ force: true }).catch(() => {})));
}

const subnetReservations = join(tmpdir(), 'nap-test-subnets');

/**
 * A /24 of 10.214.0.0/16 that no Docker network on this engine uses: each test platform gets its
 * own bridge network (Docker refuses overlapping ones), so parallel runs do not collide. A file
 * under the temp dir reserves it until the platform stops (or its test process is gone), because a
 * parallel test may have picked the same /24 before its DEA made the network.
 */
export async function freeContainerSubnet(): Promise<string> {
  const used = new Set<string>();
  for (const n of await docker().listNetworks()) for (const c of n.IPAM?.Config ?? []) if (c.Subnet) used.add(c.Subnet);
  await mkdir(subnetReservations, { recursive: true });
  for (let tries = 0; tries < 64; tries++) {
    const subnet = `10.214.${Math.floor(Math.random() * 256)}.0/24`;
    if (used.has(subnet)) continue;
    if (await reserveSubnet(subnet)) return subnet;
  }
  throw new Error('no free /24 in 10.214.0.0/16 for a test platform: remove test networks left behind (docker network ls --filter label=nap.installation)');
}

const reservationOf = (subnet: string) => join(subnetReservations, subnet.replace('/', '_'));

async function reserveSubnet(subnet: string): Promise<boolean> {
  const file = reservationOf(subnet);
  try {
    await writeFile(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    const holder = Number(await readFile(file, 'utf8').catch(() => ''));
    if (holder && isAlive(holder)) return false;
    await rm(file, { force: true });
    return writeFile(file, String(process.pid), { flag: 'wx' }).then(() => true, () => false);
  }
}

export async function releaseSubnet(subnet: string | undefined): Promise<void> {
  if (subnet) await rm(reservationOf(subnet), { force: true });
}
