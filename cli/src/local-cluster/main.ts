import { Command, InvalidArgumentError } from 'commander';
import { caPinOf, loadSettings } from '@nap/common/without-engines';
import { output } from '../output.js';
import { readState } from './cluster-state.js';
import { cutHost, loseHost, makeHosts, NAME, removeHosts, startNap } from './local-cluster.js';

// deploy/local-cluster: several nap hosts on this machine (network namespaces with their own
// address and dockerd), to try a cluster and to test one.
const DEFAULT_DIR = '/var/lib/nap-local-cluster';

const program = new Command('local-cluster').option('--json', 'machine-readable output').option('--dir <dir>', 'where the cluster lives', process.env.NAP_LOCAL_CLUSTER_DIR ?? DEFAULT_DIR);
const out = () => output(Boolean(program.opts().json));
const dir = () => program.opts().dir as string;

function hostCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new InvalidArgumentError('expected 1 to 20 hosts');
  return n;
}
function clusterName(v: string): string {
  if (!NAME.test(v)) throw new InvalidArgumentError('expected 1-8 of a-z and 0-9');
  return v;
}

program
  .command('up')
  .argument('<hosts>', 'how many hosts', hostCount)
  .option('--name <name>', 'names its bridge, namespaces and nft table', clusterName, 'local')
  .option('--no-nap', 'make the hosts only: no nap up, no nap join')
  .description('make N hosts on this machine, each its own network namespace, address and dockerd, and a nap over them')
  .action(async (count: number, o: { name: string; nap: boolean }) => {
    const settings = loadSettings();
    const o2 = out();
    const progress = (l: string) => o2.progress(l);
    const state = await makeHosts({ name: o.name, dir: dir(), stackImage: settings.stackImage, machineDockerSocket: settings.dockerSocket, progress }, count);
    const hosts = state.hosts.map((h) => `host ${h.index}: ${h.address} (namespace ${h.netns}, docker ${h.dockerSocket})`);
    if (!o.nap) return o2.result(hosts.join('\n'), { hosts: state.hosts });
    const nap = await startNap(state, { installationId: `lc-${o.name}`, progress });
    o2.result(
      [
        ...hosts,
        `API: ${nap.apis.join(', ')}; routers: ${nap.routers.join(', ')}`,
        `Use it from this machine: nap target ${nap.api} --ca-pin ${caPinOf(nap.ca)} && nap login --token $(cat ${state.hosts[0].napHome}/admin.token)`,
      ].join('\n'),
      { hosts: state.hosts, ...nap },
    );
  });

program
  .command('down')
  .description('remove exactly what up made')
  .action(async () => {
    const o = out();
    const state = await removeHosts(dir(), (l) => o.progress(l));
    o.result(state ? `local cluster ${state.name} removed` : `no local cluster in ${dir()}`, { removed: state !== null });
  });

function hostIndex(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a host number, 1 for the first');
  return n;
}

async function recorded() {
  const state = await readState(dir());
  if (!state) throw new Error(`no local cluster in ${dir()}: run deploy/local-cluster up N first`);
  return state;
}

program
  .command('lose')
  .argument('<host>', 'the host number', hostIndex)
  .description('lose a host as a machine is lost: every process and container of it killed, its link down (chaos)')
  .action(async (index: number) => {
    await loseHost(await recorded(), index);
    out().result(`host ${index} lost`, { lost: index });
  });
program
  .command('cut')
  .argument('<host>', 'the host number', hostIndex)
  .description("cut a host's link to the others (ip link set eth0 down); it runs on alone (chaos)")
  .action(async (index: number) => {
    await cutHost(await recorded(), index, true);
    out().result(`host ${index} cut off`, { cut: index });
  });
program
  .command('heal')
  .argument('<host>', 'the host number', hostIndex)
  .description("bring a cut host's link back")
  .action(async (index: number) => {
    await cutHost(await recorded(), index, false);
    out().result(`host ${index} back`, { healed: index });
  });

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`local-cluster: ${err.message}\n`);
  process.exit(1);
});
