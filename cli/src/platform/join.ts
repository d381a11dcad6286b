import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { caPinOf, JoinAnswer, loadEngineCredentials, loadSettings, makeNodeKey, type NodeRole, saveEnginePasswords, saveJoinedTls } from '@nap/common';
import { ApiClient } from '../api-client.js';
import { caFor } from '../cluster-ca.js';
import { CliError } from '../config.js';
import type { Output } from '../output.js';
import { updateNodeSettings } from './node-settings.js';
import { PlatformState } from './state.js';
import { napLivesIn, runSetup, startNode } from './up.js';

/**
 * nap join API --token T --advertise IP: makes this host a node of the nap at API. The controller
 * checks the token and hands back the cluster's settings and the secrets of the roles asked for;
 * they are kept in NAP_HOME as `nap up` keeps its own, and this node's programs are started.
 */
export async function joinCluster(out: Output, api: string, opts: { token: string; advertise: string; roles: NodeRole[]; setup: boolean; caPin?: string; caFile?: string }): Promise<void> {
  const home = loadSettings().home;
  if (await napLivesIn(new PlatformState(home))) {
    throw new CliError(`a nap already runs (or ran) in ${home}: a host joins with a NAP_HOME of its own (nap down, then move or remove ${home}, or set NAP_HOME)`);
  }
  const base = api.replace(/\/+$/, '');
  // Before anything else: the token and the secrets it buys cross only a connection checked against the pinned CA.
  const ca = await caFor(base, opts);
  if (opts.setup) runSetup();
  out.progress(`asking ${api} to let ${opts.advertise} join as ${opts.roles.join(', ')}…`);
  // The node's key never leaves it: the controller signs a request for the node's address.
  const csr = await makeNodeKey(home);
  const raw = await new ApiClient(base, undefined, ca).call<unknown>('POST', '/v1/nodes/join', { token: opts.token, address: opts.advertise, roles: opts.roles, csr });
  const parsed = JoinAnswer.safeParse(raw);
  if (!parsed.success) throw new CliError(`the API's answer to the join is not what nap join expects (is ${api} a nap of this version?): ${parsed.error.message}`);
  const answer = parsed.data;
  if (answer.settings.NAP_NODE_ADDRESS !== opts.advertise || answer.settings.NAP_NODE_ROLES !== opts.roles.join(',')) {
    throw new CliError(`the API answered settings for another node (${answer.settings.NAP_NODE_ADDRESS}: ${answer.settings.NAP_NODE_ROLES}); nothing was changed`);
  }
  if (ca && answer.tls && caPinOf(answer.tls.ca) !== caPinOf(ca)) throw new CliError(`the API answered another CA than the one pinned: nothing was changed`);
  await updateNodeSettings(home, answer.settings);
  if (answer.tls) {
    const files = await saveJoinedTls(home, answer.tls);
    await updateNodeSettings(home, { NAP_TLS_CA: files.ca, NAP_TLS_CERT: files.cert, NAP_TLS_KEY: files.key });
  }
  const state = new PlatformState(home);
  await state.prepare();
  await saveEnginePasswords(state.credentialsDir, { etcd: answer.secrets.etcd, nats: answer.secrets.nats, etcdRoot: answer.secrets.etcd_root, natsRoute: answer.secrets.nats_route });
  const files: [string, string | undefined][] = [
    ['directory.secret', answer.secrets.directory_secret],
    ['admin.token', answer.secrets.admin_token],
    ['cert.key', answer.secrets.cert_key],
  ];
  for (const [name, value] of files) {
    if (!value) continue;
    await writeFile(join(home, name), `${value}\n`, { mode: 0o600 });
    await chmod(join(home, name), 0o600);
  }
  const settings = loadSettings();
  await startNode(out, settings, state, await loadEngineCredentials(state.credentialsDir));
  out.result(`${answer.node.id} (${answer.node.address}) joined as ${answer.node.roles.join(', ')}; state and logs in ${home}`, answer.node);
}
