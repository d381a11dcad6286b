import { type ApiClient, ApiError } from '../api-client.js';
import type { AppView } from '@nap/common/without-engines';
import type { Output } from '../output.js';
import { waitForVersion } from './apps.js';

/** nap deploy NAME GIT_URL [--ref R]: the controller clones and deploys; the app is made if it is new. */
export async function deploy(api: ApiClient, out: Output, name: string, gitUrl: string, ref: string | undefined): Promise<void> {
  await api.call<AppView>('GET', `/v1/apps/${name}`).catch(async (err) => {
    if (err instanceof ApiError && err.status === 404) return api.call<AppView>('PUT', `/v1/apps/${name}`, {});
    throw err;
  });
  out.progress(`Deploying ${gitUrl}${ref ? ` at ${ref}` : ''} to ${name} (the controller clones and stages it)…`);
  const app = await api.call<AppView & { changed: boolean }>('POST', `/v1/apps/${name}/deploy`, { git_url: gitUrl, ...(ref ? { ref } : {}) });
  if (!app.changed) out.progress('The tree is unchanged since the last staging: not staging again');
  await waitForVersion(api, out, app, 180_000);
  out.result(`${name} is running: ${app.urls.join(', ')}`, app);
}
