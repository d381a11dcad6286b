import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient } from './api-client.js';
import { deleteApp, listApps, restartApp, scaleApp, showApp, startApp, stopApp } from './commands/apps.js';
import { changeEnv, showEnv } from './commands/env.js';
import { changeRoute, listRoutes } from './commands/routes.js';
import { createDomain, deleteDomain, listDomains, shareDomain } from './commands/domains.js';
import { addCert, listCerts, removeCert } from './commands/certs.js';
import { bindService, createUserProvidedService, deleteService, listServices } from './commands/services.js';
import { createUser } from './commands/users.js';
import { launchSimilar, showParameters } from './commands/similar.js';
import { listReleases, rollback } from './commands/releases.js';
import { ssh } from './commands/ssh.js';
import { addDrain, listCron, listDrains, listTasks, removeDrain, runTask, setSsh, terminateTask } from './commands/tasks.js';
import { deploy } from './commands/deploy.js';
import { listDeas } from './commands/deas.js';
import { createJoinToken, listJoinTokens, listNodes, removeNode, revokeJoinToken } from './commands/nodes.js';
import { IPV4, NODE_ROLES, type NodeRole, parseNodeRoles } from '@nap/common/without-engines';
import { quota } from './commands/quota.js';
import { createBuildpack, deleteBuildpack, listBuildpacks } from './commands/buildpacks.js';
import { events } from './commands/events.js';
import { files } from './commands/files.js';
import { logs } from './commands/logs.js';
import { push } from './commands/push.js';
import { login, targetApi, whoami } from './commands/session.js';
import { CliError } from './config.js';
import { output } from './output.js';

function ipv4(value: string): string {
  if (!IPV4.test(value)) throw new InvalidArgumentError('expected an IPv4 address such as 10.0.0.5');
  return value;
}

function roles(value: string): NodeRole[] {
  const list = parseNodeRoles(value);
  if (!list) throw new InvalidArgumentError(`expected a comma-separated list of ${NODE_ROLES.join(', ')}`);
  return list;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of instances');
  return n;
}

const program = new Command('nap')
  .description('nap: push apps, run them, route to them (a self-hosted PaaS)')
  .option('--json', 'machine-readable output')
  .showHelpAfterError();

const out = () => output(Boolean(program.opts().json));
const api = () => ApiClient.fromConfig();
// Loaded only for up/down/status: they need the engine clients, which slow every other command's start.
const platformCommands = () => import('./platform/up.js');
const collect = (v: string, prev: string[] = []) => [...prev, v];

program
  .command('target')
  .argument('<url>', 'the nap API, e.g. http://127.0.0.1:9022')
  .option('--ca-pin <sha256:hex>', "an https API of a cluster: the hash of its CA, as nap up printed it (the CA is fetched and kept only if it matches)")
  .option('--ca-file <file>', "an https API of a cluster: its CA's certificate (NAP_HOME/tls/ca.crt on its first node)")
  .description('choose the nap API to talk to')
  .action((url: string, o: { caPin?: string; caFile?: string }) => targetApi(out(), url, o));
program.command('login').requiredOption('--token <token>', 'an API token').description('log in with a token').action((o: { token: string }) => login(out(), o.token));
program.command('whoami').description('who the CLI is logged in as').action(() => whoami(out()));

program
  .command('push')
  .argument('[name]', 'app name (default: the manifest, else the folder name)')
  .option('-p, --path <dir>', 'the app directory', '.')
  .option('-i, --instances <n>', 'number of instances', count)
  .option('-m, --memory <size>', 'memory per instance, e.g. 256M or 1G')
  .option('-k, --disk <size>', 'disk quota per instance, e.g. 512M or 2G')
  .option('-c, --command <cmd>', 'start command')
  .option('-b, --buildpack <name>', 'buildpack to use instead of detection: a built-in or admin one (nap buildpacks), or a git URL[#ref]')
  .option('--route <host>', 'a route for the app (repeatable)', collect)
  .option('--no-start', 'upload without starting')
  .addOption(new Option('--timeout <s>', 'seconds to wait for instances').default(180).argParser(Number))
  .description('create or update an app from a directory, stage it and start it')
  .action(async (name: string | undefined, o) =>
    push(await api(), out(), name, { path: o.path, instances: o.instances, memory: o.memory, disk: o.disk, command: o.command, buildpack: o.buildpack, route: o.route, start: o.start, timeout: o.timeout }),
  );

program.command('apps').description('list apps').action(async () => listApps(await api(), out()));
program.command('app').argument('<name>').description('show an app and its instances').action(async (name: string) => showApp(await api(), out(), name));
program.command('start').argument('<name>').description('start an app (staging it first if its bits changed)').action(async (name: string) => startApp(await api(), out(), name));
program.command('restart').argument('<name>').description('replace every instance, one at a time').action(async (name: string) => restartApp(await api(), out(), name));
program.command('stop').argument('<name>').description('stop all instances of an app').action(async (name: string) => stopApp(await api(), out(), name));
program
  .command('scale')
  .argument('<name>')
  .argument('[counts...]', 'TYPE=N for process types, e.g. worker=3')
  .option('-i, --instances <n>', 'number of instances', count)
  .option('-m, --memory <size>', 'memory per instance, e.g. 512M')
  .option('-p, --process <type>', 'the process type that -i and -m change', 'web')
  .description('change the number of instances or their memory, per process type')
  .action(async (name: string, args: string[], o: { instances?: number; memory?: string; process: string }) => {
    const counts: Record<string, number> = {};
    for (const arg of args) {
      const m = /^([a-z][a-z0-9_-]{0,29})=(\d+)$/.exec(arg);
      if (!m) throw new CliError(`${JSON.stringify(arg)} is not TYPE=N (e.g. worker=3)`);
      counts[m[1]] = Number(m[2]);
    }
    if (o.instances === undefined && o.memory === undefined && args.length === 0) {
      throw new CliError('say what to scale: -i N and/or -m SIZE (for --process TYPE, web by default), or TYPE=N');
    }
    await scaleApp(await api(), out(), name, { ...o, counts });
  });

program
  .command('logs')
  .argument('<name>')
  .option('-i, --instance <index>', 'only this instance', count)
  .option('--recent', 'recent lines, then stop (the default)')
  .option('-f, --follow', 'keep following, including instances that start later')
  .option('--staging', 'the log of the latest staging')
  .option('--task <id>', "a one-off task's output (its id in nap tasks)", count)
  .description("an app's logs: recent lines of every instance, merged by time")
  .action(async (name: string, o: { instance?: number; follow?: boolean; staging?: boolean; task?: number }) =>
    logs(await api(), out(), name, { instance: o.instance, follow: Boolean(o.follow), staging: Boolean(o.staging), task: o.task }),
  );
program
  .command('run-task')
  .argument('<name>')
  .argument('<command>', 'run once in a container of the app\'s current droplet, with its env')
  .option('--name <task>', 'a name for the task (default task-N)')
  .option('-m, --memory <size>', "memory, e.g. 512M (default: the app's)")
  .description('run a one-off task: a migration, a report, a batch job')
  .action(async (name: string, command: string, o: { name?: string; memory?: string }) => runTask(await api(), out(), name, command, o));
program
  .command('add-drain')
  .argument('<name>')
  .argument('<url>', 'syslog://HOST:PORT, syslog-tls://HOST:PORT or https://HOST/PATH')
  .description("send every line of an app's instances and tasks to a log drain (RFC 5424)")
  .action(async (name: string, url: string) => addDrain(await api(), out(), name, url));
program.command('drains').argument('<name>').description("an app's log drains").action(async (name: string) => listDrains(await api(), out(), name));
program
  .command('remove-drain')
  .argument('<name>')
  .argument('<url>')
  .description('stop sending an app\'s lines to a drain')
  .action(async (name: string, url: string) => removeDrain(await api(), out(), name, url));
program
  .command('ssh')
  .argument('<name>')
  .option('-i, --instance <index>', 'the instance index', count, 0)
  .option('-c, --command <command>', 'run this command instead of a shell')
  .option('-p, --process-type <type>', 'a process type other than web')
  .description('a shell (or one command) inside a running instance, as the app\'s user')
  .action(async (name: string, o: { instance: number; command?: string; processType?: string }) => ssh(await api(), out(), name, { index: o.instance, command: o.command, processType: o.processType }));
program.command('enable-ssh').argument('<name>').description('let nap ssh into the app (the default)').action(async (name: string) => setSsh(await api(), out(), name, true));
program.command('disable-ssh').argument('<name>').description('refuse nap ssh into the app, to everyone').action(async (name: string) => setSsh(await api(), out(), name, false));
program.command('cron').argument('<name>').description("an app's cron entries (from its manifest) with their last and next runs").action(async (name: string) => listCron(await api(), out(), name));
program.command('tasks').argument('<name>').description("an app's tasks, newest first, with state, exit status and duration").action(async (name: string) => listTasks(await api(), out(), name));
program
  .command('terminate-task')
  .argument('<name>')
  .argument('<id>', 'the task id in nap tasks')
  .description('stop a running task (it is recorded FAILED, cancelled)')
  .action(async (name: string, id: string) => terminateTask(await api(), out(), name, id));
program
  .command('files')
  .argument('<name>')
  .argument('[path]', 'a path inside the instance directory, e.g. logs/ or app/package.json')
  .option('-i, --instance <index>', 'instance index', count, 0)
  .description("list or read an instance's files")
  .action(async (name: string, path: string | undefined, o: { instance: number }) => files(await api(), out(), name, path, o.instance));
program.command('events').argument('<name>').description("an app's history, newest first").action(async (name: string) => events(await api(), out(), name));

program
  .command('delete')
  .argument('<name>')
  .option('-f, --force', 'do not ask')
  .description('delete an app with its instances, routes, bits and history')
  .action(async (name: string, o: { force?: boolean }) => deleteApp(await api(), out(), name, Boolean(o.force)));
program.command('env').argument('<name>').description("an app's own env").action(async (name: string) => showEnv(await api(), out(), name));
program
  .command('set-env')
  .argument('<name>')
  .argument('<key>')
  .argument('<value>')
  .description('set an env variable (instances are replaced one at a time)')
  .action(async (name: string, key: string, value: string) => changeEnv(await api(), out(), name, key, value));
program
  .command('unset-env')
  .argument('<name>')
  .argument('<key>')
  .description('remove an env variable')
  .action(async (name: string, key: string) => changeEnv(await api(), out(), name, key, null));
program.command('routes').description('all routes and their apps (admin)').action(async () => listRoutes(await api(), out()));
program
  .command('map-route')
  .argument('<name>')
  .argument('<host>')
  .option('--https-only', 'redirect plain HTTP to HTTPS, and send HSTS over HTTPS')
  .option('--no-https-only', 'serve the route over plain HTTP too')
  .description('add a route to an app')
  .action(async (name: string, host: string, o: { httpsOnly?: boolean }) => changeRoute(await api(), out(), name, host, true, o.httpsOnly));
program
  .command('unmap-route')
  .argument('<name>')
  .argument('<host>')
  .description('remove a route from an app')
  .action(async (name: string, host: string) => changeRoute(await api(), out(), name, host, false));
program.command('params').argument('<name>').description("the {parameters} of an app's command").action(async (name: string) => showParameters(await api(), out(), name));
program
  .command('similar')
  .argument('<name>')
  .option('--name <new>', 'name of the new app (default NAME-n)')
  .option('--param <key=value>', 'a parameter value (repeatable)', collect)
  .description('start another app from the same droplet with other parameter values')
  .action(async (name: string, o: { name?: string; param?: string[] }) => launchSimilar(await api(), out(), name, o.name, o.param ?? []));
program.command('releases').argument('<name>').description("an app's releases, newest first").action(async (name: string) => listReleases(await api(), out(), name));
program
  .command('rollback')
  .argument('<name>')
  .argument('<version>', 'a release, e.g. v3')
  .description("go back to an earlier release's code and configuration")
  .action(async (name: string, version: string) => rollback(await api(), out(), name, version));
program
  .command('deploy')
  .argument('<name>')
  .argument('<git_url>')
  .option('--ref <ref>', 'a branch or tag')
  .description('deploy a git repository: the controller clones it (or: git push {api}/git/NAME.git)')
  .action(async (name: string, url: string, o: { ref?: string }) => deploy(await api(), out(), name, url, o.ref));
program.command('buildpacks').description('the buildpacks, in detection order: built-in, then admin ones').action(async () => listBuildpacks(await api(), out()));
program
  .command('create-buildpack')
  .argument('<name>')
  .argument('<source>', 'a buildpack folder (bin/detect, bin/compile, bin/release) or a git URL[#ref]')
  .description('add an admin buildpack (admin); a folder again replaces its archive')
  .action(async (name: string, source: string) => createBuildpack(await api(), out(), name, source));
program.command('delete-buildpack').argument('<name>').description('delete an admin buildpack (admin)').action(async (name: string) => deleteBuildpack(await api(), out(), name));
program.command('services').description('your services and the apps bound to them').action(async () => listServices(await api(), out()));
program
  .command('create-user-provided-service')
  .alias('cups')
  .argument('<name>')
  .requiredOption('-p, --parameters <json>', 'the credentials, a JSON object: \'{"uri":"postgres://…"}\'')
  .description('a service of your own credentials, for apps to bind')
  .action(async (name: string, o: { parameters: string }) => createUserProvidedService(await api(), out(), name, o.parameters));
program.command('bind-service').argument('<app>').argument('<service>').description('give an app a service: VCAP_SERVICES (and DATABASE_URL for a database)').action(async (app: string, service: string) => bindService(await api(), out(), app, service, true));
program.command('unbind-service').argument('<app>').argument('<service>').description('take a service from an app').action(async (app: string, service: string) => bindService(await api(), out(), app, service, false));
program.command('delete-service').argument('<name>').description('delete a service no app is bound to').action(async (name: string) => deleteService(await api(), out(), name));
const certs = program.command('certs').description('the certificates the router serves your domains with over HTTPS').action(async () => listCerts(await api(), out()));
certs
  .command('add')
  .argument('<domain>', 'the host or wildcard (*.example.com) it serves')
  .requiredOption('--cert <file>', 'the certificate chain (PEM: the leaf first, then its intermediates)')
  .requiredOption('--key <file>', 'its private key (PEM, without a passphrase); kept sealed, never shown again')
  .description('serve a domain of yours with your certificate')
  .action(async (domain: string, o: { cert: string; key: string }) => addCert(await api(), out(), domain, o));
certs.command('remove').argument('<domain>').description('stop serving a domain with your certificate').action(async (domain: string) => removeCert(await api(), out(), domain));
program.command('domains').description('the domains you may claim routes on: the shared one and private ones').action(async () => listDomains(await api(), out()));
program
  .command('create-domain')
  .argument('<name>')
  .option('--owner <user...>', 'users who may claim hosts and wildcards on it (repeatable)')
  .description('create a private domain (admin)')
  .action(async (name: string, o: { owner?: string[] }) => createDomain(await api(), out(), name, o.owner ?? []));
program.command('delete-domain').argument('<name>').description('delete a private domain no route uses (admin)').action(async (name: string) => deleteDomain(await api(), out(), name));
program
  .command('share-domain')
  .argument('<name>')
  .argument('<user>')
  .description('let a user claim routes on a private domain (admin)')
  .action(async (name: string, user: string) => shareDomain(await api(), out(), name, user, true));
program
  .command('unshare-domain')
  .argument('<name>')
  .argument('<user>')
  .description("take a private domain back from a user; routes they hold stay (admin)")
  .action(async (name: string, user: string) => shareDomain(await api(), out(), name, user, false));
program.command('deas').description('the DEAs, their zone, free memory and instances (admin)').action(async () => listDeas(await api(), out()));
const users = program.command('users').description('users (admin)');
users
  .command('create')
  .argument('<name>')
  .option('--admin', 'an admin rather than a developer')
  .description('create a user and print their token once')
  .action(async (name: string, o: { admin?: boolean }) => createUser(await api(), out(), name, Boolean(o.admin)));

program
  .command('quota')
  .argument('<user>')
  .option('--apps <n>', 'apps the user may have (admin)', count)
  .option('--instances <n>', 'instances of started apps, all process types (admin)', count)
  .option('--memory <size>', 'memory of all those instances together, e.g. 4G (admin)')
  .description("show a user's quota and use; with options, set it (admin)")
  .action(async (user: string, o: { apps?: number; instances?: number; memory?: string }) => quota(await api(), out(), user, o));

program
  .command('up')
  .option('--no-setup', 'skip deploy/setup')
  .option('--advertise <ip>', "this host's address, which the other hosts of a cluster reach (default: 127.0.0.1, a nap alone)", ipv4)
  .description('bring a whole nap up on this node')
  .action(async (o: { setup: boolean; advertise?: string }) => (await platformCommands()).up(out(), o));
program
  .command('join')
  .argument('<api>', "the API of the nap to join, as nap up printed it")
  .option('--token <token>', 'a join token (nap up prints one; nap nodes token create makes more); NAP_JOIN_TOKEN keeps it out of the process list')
  .requiredOption('--advertise <ip>', "this host's address, which the other hosts reach", ipv4)
  .option('--roles <roles>', 'what this node runs: engines, controller, router, dea', roles, ['router', 'dea'] as NodeRole[])
  .option('--ca-pin <sha256:hex>', "the hash of the nap's CA, as nap up printed it: the join trusts the API only through that CA")
  .option('--ca-file <file>', "the nap's CA certificate, instead of --ca-pin")
  .option('--no-setup', 'skip deploy/setup')
  .description('make this host a node of an existing nap')
  .action(async (api: string, o: { token?: string; advertise: string; roles: NodeRole[]; setup: boolean; caPin?: string; caFile?: string }) => {
    // A token on the command line is readable by every user of the host (ps) while the join runs.
    const token = o.token ?? process.env.NAP_JOIN_TOKEN;
    if (!token) throw new CliError('nap join needs a join token: --token T, or NAP_JOIN_TOKEN=T in the environment (which ps does not show)');
    await (await import('./platform/join.js')).joinCluster(out(), api, { ...o, token });
  });
const nodes = program.command('nodes').description('the hosts of this nap, with their roles, addresses, health and instances (admin)').action(async () => listNodes(await api(), out()));
nodes
  .command('remove')
  .argument('<id>')
  .description("forget a node (its programs are not stopped); an engines node's etcd member is removed first (admin)")
  .action(async (id: string) => removeNode(await api(), out(), id));
const tokens = nodes.command('token').description('join tokens, which let a host join (admin)');
tokens
  .command('create')
  .option('--roles <roles>', 'the roles a node joining with it may take', roles)
  .option('--ttl <hours>', 'hours until it expires', (v) => count(v), 24)
  .description('make a join token')
  .action(async (o: { roles?: NodeRole[]; ttl: number }) => createJoinToken(await api(), out(), o));
tokens.command('list').description('join tokens (never their secrets)').action(async () => listJoinTokens(await api(), out()));
tokens.command('revoke').argument('<id>').description('revoke a join token: no host can join with it any more').action(async (id: string) => revokeJoinToken(await api(), out(), id));
program.command('down').description('stop what nap up started').action(async () => (await platformCommands()).down(out()));
program.command('status').description('what of a local nap is up').action(async () => (await platformCommands()).status(out()));
program
  .command('systemd')
  .option('--dir <dir>', 'where to write the units', '/etc/systemd/system')
  .description("systemd units for this node's programs (Restart=on-failure), to run them without nap up's supervisor")
  .action(async (o: { dir: string }) => (await import('./platform/systemd-units.js')).writeSystemdUnits(out(), o));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    if (program.opts().json) process.stdout.write(`${JSON.stringify({ error: { message: err.message } })}\n`);
    process.stderr.write(`nap: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
