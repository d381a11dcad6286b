import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/**
 * Issue 15 in a real Chromium (Debian's, which deploy/setup installs), driven by playwright-core,
 * against a whole nap on real engines: the dashboard the controller serves at / of its address.
 */

/** Debian's chromium: /usr/bin/chromium is a wrapper script; the browser itself is beside it. */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));

interface InstanceRow {
  state: string;
}

describe('the web dashboard in Chromium', () => {
  let platform: TestPlatform;
  let browser: Browser;
  let admin: Record<string, string>;
  const tokens: Record<string, string> = {};

  before(async () => {
    assert.ok(CHROMIUM, 'chromium is not installed: run deploy/setup (it installs it)');
    platform = await TestPlatform.start();
    admin = platform.cliEnv();
    for (const name of ['alice', 'bob']) {
      const made = await nap(['users', 'create', name, '--json'], admin);
      assert.equal(made.code, 0, made.stderr);
      tokens[name] = (JSON.parse(made.stdout) as { token: string }).token;
    }
    const pushed = await nap(['push', 'alice-app', '-p', `${repoRoot}examples/hello-node`], { ...admin, NAP_TOKEN: tokens.alice });
    assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await platform?.stop();
  });

  async function signedIn(token: string, width = 1280): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height: 800 } });
    await page.goto(`${platform.controllerUrl}/`);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    return page;
  }

  test('the page is served from the API\'s own origin, with a policy that lets it load and call nothing else', async () => {
    const r = await httpGet(`${platform.controllerUrl}/apps/anything`);
    assert.equal(r.status, 200);
    assert.match(r.body, /<div id="root">/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'self'.*frame-ancestors 'none'/);
    // The API is still the API under /v1, and an unknown API path is still its JSON 404.
    const api = await httpGet(`${platform.controllerUrl}/v1/nothing-here`);
    assert.equal(api.status, 404);
    assert.match(api.body, /"error"/);
  });

  test('a wrong token is refused and says what to do', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${platform.controllerUrl}/`);
      await page.getByLabel('Token').fill('not-a-token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'That token was refused' }).waitFor();
    } finally {
      await page.close();
    }
  });

  test('an admin signs in, sees the app with its state, and scales it to 2 running instances', async () => {
    const page = await signedIn(platform.adminToken);
    try {
      await page.getByText('admin (admin)').waitFor();
      const row = page.locator('tr[data-app="alice-app"]');
      await row.waitFor();
      await row.locator('td.state', { hasText: 'STARTED' }).waitFor();
      await row.getByRole('link', { name: 'alice-app' }).click();
      await page.getByRole('heading', { name: 'alice-app' }).waitFor();
      await page.getByLabel('Instances').fill('2');
      await page.getByRole('button', { name: 'Scale' }).click();
      await page.getByRole('status').filter({ hasText: '2 running' }).waitFor({ timeout: 60_000 });
      await eventually(async () => (await page.locator('table.instances tbody tr[data-state="RUNNING"]').count()) === 2, 10_000, 'two running rows');
      // What the page says is what the API says.
      const api = await httpGet(`${platform.controllerUrl}/v1/apps/alice-app/instances`, { Authorization: `Bearer ${platform.adminToken}` });
      const running = (JSON.parse(api.body) as InstanceRow[]).filter((i) => i.state === 'RUNNING');
      assert.equal(running.length, 2, api.body);
    } finally {
      await page.close();
    }
  });

  test("a developer does not see another developer's app, and its page, opened directly, says 403", async () => {
    const page = await signedIn(tokens.bob, 375);
    try {
      await page.getByText('bob (developer)').waitFor();
      await page.getByText('No app yet').waitFor();
      assert.equal(await page.locator('tr[data-app="alice-app"]').count(), 0);
      await page.goto(`${platform.controllerUrl}/apps/alice-app`);
      await page.getByRole('alert').filter({ hasText: 'Forbidden (403)' }).first().waitFor();
      // Usable at 375 px: nothing wider than the screen but the tables, which scroll in their own box.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 375 px screen`);
    } finally {
      await page.close();
    }
  });
});
