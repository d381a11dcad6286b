import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Backoff, Bus, channels, connectEtcd, JetStreamBlobstore, keys, listenHttp, type Logger, RepeatedFailureLog, requireSetting, retry, type Settings } from '@nap/common';
import compression from 'compression';
import express from 'express';
import { appsRouter } from './api/apps-router.js';
import { AppPresenter } from './apps/present.js';
import { deasRouter } from './api/deas-router.js';
import { nodesJoinRouter, nodesRouter } from './api/nodes-router.js';
import { NodesRepository } from './store/nodes-repository.js';
import { EnginesUpkeep } from './cluster/engines-upkeep.js';
import { requestDeadline, serverTimeouts } from './api/request-deadline.js';
import { errorHandler, notFoundHandler } from './api/errors.js';
import { healthRouter } from './api/health-router.js';
import { dashboardRouter } from './api/dashboard-router.js';
import { infoRouter, whoamiRouter } from './api/info-router.js';
import { instanceFilesRouter } from './api/instance-files-router.js';
import { join } from 'node:path';
import { bearerAuth, tokenMatches } from './auth/bearer.js';
import { gitRouter } from './git/smart-http.js';
import { cloneToPackage } from './git/clone.js';
import { AppLifecycle } from './apps/lifecycle.js';
import { GitRepositories } from './git/repositories.js';
import { deployRouter } from './api/deploy-router.js';
import { randomUUID } from 'node:crypto';
import { Converger } from './health/converger.js';
import { HealthManager } from './health/health-manager.js';
import { CrashHistory } from './store/crash-history.js';
import { PendingStarts } from './placement/pending-starts.js';
import { DeaPool } from './placement/dea-pool.js';
import { watchDeaLiveness } from './placement/dea-liveness.js';
import { Stager } from './staging/stager.js';
import { ActualInstancesRepository } from './store/actual-instances.js';
import { AppsRepository } from './store/apps-repository.js';
import { EventsRepository } from './store/events-repository.js';
import { RoutesRepository } from './store/routes-repository.js';
import { DomainsRepository } from './store/domains-repository.js';
import { RouteClaims } from './routes/route-claims.js';
import { platformHosts } from './routes/route-policy.js';
import { domainsRouter } from './api/domains-router.js';
import { UsersRepository } from './store/users-repository.js';
import { usersRouter } from './api/users-router.js';
import { routesRouter } from './api/routes-router.js';
import { similarRouter } from './api/similar-router.js';
import { tasksRouter } from './api/tasks-router.js';
import { TasksRepository } from './store/tasks-repository.js';
import { TaskLauncher } from './tasks/task-launcher.js';
import { ControllerMetrics } from './api/metrics-router.js';
import { drainsRouter } from './api/drains-router.js';
import { certsRouter } from './api/certs-router.js';
import { routeOptionsRouter } from './api/route-options-router.js';
import { servicesRouter } from './api/services-router.js';
import { ServicesRepository } from './store/services-repository.js';
import { CertsRepository } from './store/certs-repository.js';
import { ensureDefaultCertificate } from './tls/default-certificate.js';
import { AcmeManager } from './tls/acme-manager.js';
import { CertificatePolicy } from './tls/certificate-policy.js';
import { attachSshGateway } from './api/ssh-gateway.js';
import { AppTraffic } from './stats/app-traffic.js';
import { CronScheduler } from './tasks/cron-scheduler.js';
import { CronRunsRepository } from './store/cron-runs-repository.js';
import { releasesRouter } from './api/releases-router.js';
import { ReleasesRepository } from './store/releases-repository.js';
import { BuildpacksRepository } from './store/buildpacks-repository.js';
import { BuildpackCatalog } from './buildpacks/catalog.js';
import { buildpacksRouter } from './api/buildpacks-router.js';
import { quotasRouter } from './api/quotas-router.js';
import { QuotaGuard } from './quotas/quota-guard.js';
import { QuotasRepository } from './store/quotas-repository.js';

export interface RunningController {
  port: number;
  close(): Promise<void>;
}

export async function startController(settings: Settings, log: Logger): Promise<RunningController> {
  const adminToken = requireSetting(settings, 'adminToken', 'NAP_ADMIN_TOKEN');
  const directorySecret = requireSetting(settings, 'directorySecret', 'NAP_DIRECTORY_SECRET');
  const etcd = connectEtcd(settings);
  const bus = await Bus.connect(settings, { name: 'nap-controller', log });
  const blobs = await JetStreamBlobstore.open(bus);

  const apps = new AppsRepository(etcd, log);
  const actual = new ActualInstancesRepository(etcd, log);
  const pool = new DeaPool();
  const pending = new PendingStarts();
  const events = new EventsRepository(etcd, log);
  const routes = new RoutesRepository(etcd);
  const domains = new DomainsRepository(etcd);
  const reservedHosts = platformHosts(settings);
  const claims = new RouteClaims(routes, domains, settings.domain, reservedHosts);
  const users = new UsersRepository(etcd);
  const releases = new ReleasesRepository(etcd, blobs, settings.releasesKept);
  const crashes = new CrashHistory(etcd);
  const quotas = new QuotasRepository(etcd);
  const nodes = new NodesRepository(etcd);
  const quota = new QuotaGuard(apps, quotas, settings.defaultQuota);
  const buildpacks = new BuildpackCatalog(settings.buildpacksDir, new BuildpacksRepository(etcd));
  // Repositories belong to apps: one named by the app's id, removed with the app.
  const repositories = new GitRepositories(join(settings.home, 'git'));
  // The lifecycle stages through the stager and pokes the health manager, both of which record
  // through it: they are made after it, and it reaches them when it first needs them.
  let stager: Stager | undefined;
  let health: HealthManager | undefined;
  const tasks = new TasksRepository(etcd);
  const cronRuns = new CronRunsRepository(etcd);
  const metrics = new ControllerMetrics();
  const taskLauncher = new TaskLauncher({ tasks, pool, bus, events, quota, started: () => metrics.tasksStarted.inc() });
  const lifecycle = new AppLifecycle({
    apps,
    events,
    releases,
    routes,
    claims,
    crashes,
    blobs,
    domain: settings.domain,
    quota,
    buildpacks,
    repositories,
    tasks: { deleteAll: async (appId) => void (await Promise.all([tasks.deleteAll(appId), cronRuns.deleteAll(appId), etcd.delete().key(keys.drains(appId))])) },
    stage: (app, actor) => stager!.stage(app, actor),
    poke: (name) => health!.poke(name),
    stopInstances: (appId) => bus.publish(channels.deaStop, { app_id: appId }),
  });
  const converger = new Converger({ apps, lifecycle, actual, crashes, bus, pool, pending, log, stagingTimeoutS: settings.stagingTimeoutS });
  const cron = new CronScheduler({ apps, runs: cronRuns, launcher: taskLauncher, events, log });
  const certs = new CertsRepository(etcd);
  const certificatePolicy = new CertificatePolicy({ domains, routes, apps, users, sharedDomain: settings.domain, reserved: reservedHosts });
  const certificates = new AcmeManager({ etcd, certs, routes, apps, domains, events, settings, log, policy: certificatePolicy });
  health = new HealthManager({ controllerId: randomUUID(), etcd, bus, apps, crashes, events, converger, whileLeading: [cron, certificates], log });
  stager = new Stager({ bus, pool, apps, lifecycle, pending, releases, log, stagingTimeoutS: settings.stagingTimeoutS, buildpacks });

  bus.subscribe(channels.deaAdvertise, (advert) => pool.update(advert));
  const traffic = new AppTraffic();
  bus.subscribe(channels.routerAppStats, (r) => traffic.report(r));
  bus.subscribe(channels.drainDropped, (d) => events.record(d.app_id, 'drain_dropped', 'system', { drain: d.drain.replace(/\?.*$/, ''), dropped: d.dropped, dea_id: d.dea_id }));
  bus.publish(channels.deaLocate, {});
  health.start();
  const liveness = await watchDeaLiveness(etcd, pool, pending, log);
  const upkeep = new EnginesUpkeep({ nodes, bus, settings, log });
  upkeep.start();

  await repositories.removeUnowned();
  // In the background: the API answers while etcd or openssl takes its time, and a failure is
  // retried (logged once a minute while it lasts).
  const defaultCertFailures = new RepeatedFailureLog(log);
  const DEFAULT_CERT = 'could not make sure of the default certificate; trying again';
  void retry(() => ensureDefaultCertificate(certs, settings, log), {
    backoff: new Backoff({ minMs: 1_000, maxMs: 60_000 }),
    onFailure: (err, wait) => defaultCertFailures.failed(DEFAULT_CERT, err, { retry_in_ms: wait }),
  })
    .then(() => defaultCertFailures.recovered(DEFAULT_CERT, 'the default certificate is in place'))
    .catch(() => {});

  const http = express();
  http.disable('x-powered-by');
  http.use(metrics.timing());
  http.use(healthRouter(etcd, bus, blobs));
  http.use(infoRouter(settings));
  http.use(
    gitRouter({
      repositories,
      apps,
      authenticate: async (token) => (tokenMatches(token, adminToken) ? { name: 'admin', role: 'admin' } : await users.byToken(token)),
      deploy: {
        lifecycle,
        apps,
        actual,
        directorySecret,
        uploadLimitMb: settings.uploadLimitMb,
        instancesTimeoutS: 180,
      },
      uploadLimitMb: settings.uploadLimitMb,
      log,
    }),
  );
  // JSON and the dashboard's files go gzip'd (a list of 1,000 apps is 660 KB plain); a followed log
  // read through the controller (?via=api) is passed on as it comes, never held back to compress.
  http.use(compression({ filter: (req, res) => req.query.via !== 'api' && compression.filter(req, res) }));
  http.use(requestDeadline(serverTimeouts.handlerMs));
  http.use(nodesJoinRouter(nodes, settings));
  http.use('/v1', bearerAuth(adminToken, users));
  http.use(usersRouter(users));
  http.use(quotasRouter({ users, quotas, guard: quota }));
  http.use(routesRouter(routes, apps));
  http.use(domainsRouter({ domains, routes, users, sharedDomain: settings.domain, reserved: reservedHosts }));
  http.use(whoamiRouter());
  http.use(metrics.router());
  http.use(deasRouter(pool));
  http.use(nodesRouter(nodes, pool, settings, etcd));
  const presenter = new AppPresenter(actual, events, directorySecret);
  http.use(appsRouter({ settings, lifecycle, apps, actual, events, crashes, presenter, traffic }));
  http.use(buildpacksRouter({ catalog: buildpacks, blobs, uploadLimitMb: settings.uploadLimitMb }));
  http.use(deployRouter({ lifecycle, presenter, cloneToPackage }));
  http.use(releasesRouter({ lifecycle, presenter, releases }));
  http.use(similarRouter({ lifecycle, presenter }));
  http.use(drainsRouter({ lifecycle, etcd }));
  http.use(routeOptionsRouter({ lifecycle, routes, etcd }));
  http.use(servicesRouter({ services: new ServicesRepository(etcd), apps, lifecycle }));
  http.use(certsRouter({ certs, policy: certificatePolicy, certKey: settings.certKey }));
  http.use(tasksRouter({ lifecycle, tasks, launcher: taskLauncher, cronRuns, pool, bus, directorySecret, deaAlive: async (id) => (await etcd.get(keys.dea(id)).string()) !== null }));
  http.use(instanceFilesRouter({ apps, actual, pool, directorySecret, directoryCa: settings.tls ? readFileSync(settings.tls.ca) : undefined }));
  http.use(dashboardRouter());
  http.use(notFoundHandler);
  http.use(errorHandler(log));

  const server: Server = await listenHttp(http, { port: settings.controllerPort, host: '0.0.0.0', tls: settings.tls });
  attachSshGateway(server, {
    authenticate: async (token) => (tokenMatches(token, adminToken) ? { name: 'admin', role: 'admin' } : await users.byToken(token)),
    lifecycle,
    actual,
    bus,
    events,
    log,
  });
  // Staging can take minutes and the CLI waits on POST /start: the request timeout only bounds
  // receiving the request (the biggest upload); answering is bounded per route by requestDeadline.
  server.headersTimeout = serverTimeouts.headersMs;
  server.requestTimeout = serverTimeouts.requestMs;
  server.keepAliveTimeout = serverTimeouts.keepAliveMs;
  log.info({ port: settings.controllerPort, url: settings.controllerUrl }, 'controller listening');

  return {
    port: settings.controllerPort,
    async close() {
      await health.stop();
      await upkeep.stop();
      await liveness.cancel().catch(() => {});
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await bus.close();
      etcd.close();
    },
  };
}
