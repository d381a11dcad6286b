import { ENGINE_SECRET_VARIABLES, type EngineCredentials, engineEnvOf } from '@nap/common';
import type { Component, Secret } from './components.js';
import type { PlatformState } from './state.js';

/** The environment of every program of a local nap: the settings, and no secret (each gets its own in secretsFor). */
export function serviceEnv(state: PlatformState): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['NAP_API', 'NAP_TOKEN', 'NAP_ADMIN_TOKEN', 'NAP_DIRECTORY_SECRET', 'NAP_ROUTER_STATUS_PASSWORD', 'NAP_CERT_KEY', ...ENGINE_SECRET_VARIABLES]) delete env[k];
  return { ...env, NAP_HOME: state.home };
}

export async function secretsFor(state: PlatformState, creds: EngineCredentials, c: Component): Promise<NodeJS.ProcessEnv> {
  const files: Record<Secret, string> = {
    NAP_ADMIN_TOKEN: 'admin.token',
    NAP_DIRECTORY_SECRET: 'directory.secret',
    NAP_ROUTER_STATUS_PASSWORD: 'router-status.password',
    NAP_CERT_KEY: 'cert.key',
  };
  const env: NodeJS.ProcessEnv = c.engineUser ? engineEnvOf(creds, c.engineUser) : {};
  for (const s of c.secrets) env[s] = await state.secret(files[s]);
  return env;
}

