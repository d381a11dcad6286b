import { Command, InvalidArgumentError } from 'commander';
import { loadSettings } from '@nap/common/without-engines';
import { output } from '../output.js';
import { makeHosts, NAME, removeHosts, startNap } from './local-cluster.js';

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
        `API: ${nap.api}; routers: ${nap.routers.join(', ')}`,
        `Use it from this machine: export NAP_API=${nap.api} NAP_TOKEN=$(cat ${state.hosts[0].napHome}/admin.token)`,
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

program.parseAsync().catch((err: Error) => {
  process.stderr.write(`local-cluster: ${err.message}\n`);
  process.exit(1);
});
