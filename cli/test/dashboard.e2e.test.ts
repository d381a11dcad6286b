import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { chromiumPath, eventually, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

/**
 * Issue 15 in a real Chromium (Debian's, which deploy/setup installs), driven by playwright-core,
 * against a whole nap on real engines: the dashboard the controller serves at / of its address.
 */

const CHROMIUM = chromiumPath();
/** Where the README's screenshots are written when set (NAP_DASHBOARD_SCREENSHOTS=docs/screenshots): made from this run. */
const SHOTS = process.env.NAP_DASHBOARD_SCREENSHOTS;

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  const dir = join(repoRoot, SHOTS);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

interface InstanceRow {
  state: string;
  instance_id: string;
}

/** Presses Tab (or Shift+Tab) until the control has the focus: what a keyboard-only user does to reach it. */
async function tabTo(page: Page, control: Locator, key: 'Tab' | 'Shift+Tab' = 'Tab', limit = 100): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press(key);
    if (await control.evaluate((el) => el === document.activeElement)) return;
  }
  assert.fail(`${String(control)} was not reached by ${limit} presses of ${key}`);
}

describe('the web dashboard in Chromium', () => {
  let platform: TestPlatform;
  let browser: Browser;
  let admin: Record<string, string>;
  let repo: string;
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
    const talker = await nap(['push', 'talker', '-p', `${repoRoot}examples/log-demo`], admin);
    assert.equal(talker.code, 0, `${talker.stdout}\n${talker.stderr}`);
    const greeter = await nap(['push', 'greeter', '-p', `${repoRoot}examples/hello-node`], admin);
    assert.equal(greeter.code, 0, `${greeter.stdout}\n${greeter.stderr}`);
    const echo = await nap(['push', 'param-echo', '-p', `${repoRoot}examples/param-echo`], admin);
    assert.equal(echo.code, 0, `${echo.stdout}\n${echo.stderr}`);
    // A repository of the test's own for "Deploy from git" (an admin may deploy from file://; the
    // controller clones as an unprivileged user, who must be able to read it).
    repo = mkdtempSync(join(tmpdir(), 'nap-dashboard-git-'));
    chmodSync(repo, 0o755);
    cpSync(join(repoRoot, 'examples/hello-node'), repo, { recursive: true });
    writeFileSync(join(repo, 'server.js'), "require('http').createServer((q, s) => s.end('cloned by the dashboard\\n')).listen(process.env.PORT);\n");
    const git = (args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: repo });
    git(['init', '-q', '-b', 'main']);
    git(['add', '.']);
    git(['commit', '-q', '-m', 'first']);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    if (repo) rmSync(repo, { recursive: true, force: true });
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
    // The API is still the API under /v1: no page there, its own JSON answers.
    const anonymous = await httpGet(`${platform.controllerUrl}/v1/nothing-here`);
    assert.equal(anonymous.status, 401);
    const unknown = await httpGet(`${platform.controllerUrl}/v1/nothing-here`, { Authorization: `Bearer ${platform.adminToken}` });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /"error"/);
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
      await shot(page, 'apps');
      await row.getByRole('link', { name: 'alice-app', exact: true }).click();
      await page.getByRole('heading', { name: 'alice-app' }).waitFor();
      await page.getByLabel('Instances').fill('2');
      await page.getByRole('button', { name: 'Scale' }).click();
      await page.getByRole('status').filter({ hasText: '2 running' }).waitFor({ timeout: 60_000 });
      await eventually(async () => (await page.locator('table.instances tbody tr[data-state="RUNNING"]').count()) === 2, 10_000, 'two running rows');
      // What the page says is what the API says.
      const api = await httpGet(`${platform.controllerUrl}/v1/apps/alice-app/instances`, { Authorization: `Bearer ${platform.adminToken}` });
      const running = (JSON.parse(api.body) as InstanceRow[]).filter((i) => i.state === 'RUNNING');
      assert.equal(running.length, 2, api.body);
      await shot(page, 'app');
    } finally {
      await page.close();
    }
  });

  test('with a keyboard alone: sign in, open an app, restart it (new instances replace the old), and the list shows it as the last event', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const running = async () => {
      const r = await httpGet(`${platform.controllerUrl}/v1/apps/alice-app/instances`, { Authorization: `Bearer ${platform.adminToken}` });
      return (JSON.parse(r.body) as InstanceRow[]).filter((i) => i.state === 'RUNNING').map((i) => i.instance_id);
    };
    try {
      await page.goto(`${platform.controllerUrl}/`);
      await tabTo(page, page.getByLabel('Token'));
      await page.keyboard.type(platform.adminToken);
      await page.keyboard.press('Enter');
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      const row = page.locator('tr[data-app="alice-app"]');
      await tabTo(page, row.getByRole('link', { name: 'alice-app', exact: true }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'alice-app' }).waitFor();

      const before = await running();
      assert.equal(before.length, 2, 'the scale test left two running instances');
      await tabTo(page, page.getByRole('button', { name: 'Restart', exact: true }));
      await page.keyboard.press('Enter');
      await eventually(async () => {
        const now = await running();
        return now.length === 2 && now.every((id) => !before.includes(id));
      }, 60_000, 'two new running instances in place of the old');
      // The page shows the new instances, not the old.
      await eventually(async () => {
        const shown = await page.locator('table.instances tbody tr[data-state="RUNNING"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-instance')));
        return shown.length === 2 && shown.every((id) => id !== null && !before.includes(id));
      }, 10_000, 'the new instances on the page');

      await tabTo(page, page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Apps' }), 'Shift+Tab');
      await page.keyboard.press('Enter');
      await row.locator('td.last-event', { hasText: /^started \d+ s ago$/ }).waitFor();
      const app = JSON.parse((await httpGet(`${platform.controllerUrl}/v1/apps/alice-app`, { Authorization: `Bearer ${platform.adminToken}` })).body) as {
        last_event: { type: string; actor: string; detail: { restart?: boolean } };
      };
      assert.deepEqual([app.last_event.type, app.last_event.actor, app.last_event.detail.restart], ['started', 'admin', true]);
    } finally {
      await page.close();
    }
  });

  test('a line the app prints appears in the logs view, after the recent ones; the staging log is there too', async () => {
    const page = await signedIn(platform.adminToken);
    try {
      await page.goto(`${platform.controllerUrl}/apps/talker`);
      const logs = page.getByLabel('Log lines');
      await logs.getByText('log-demo started on port').waitFor({ timeout: 15_000 });
      await logs.getByText('log-demo says hello on stderr').waitFor();
      const word = `said-${Date.now()}`;
      const said = await httpGet(`${platform.routerUrl}/say?text=${word}`, { Host: 'talker.nap.localhost' });
      assert.equal(said.status, 200, said.body);
      const t0 = Date.now();
      await logs.getByText(word).waitFor({ timeout: 10_000 });
      console.log(`a printed line was shown ${Date.now() - t0} ms after the app answered`);
      // The stream filter: stderr only hides stdout's lines.
      await page.getByLabel('Stream').selectOption('err');
      await logs.getByText(word).waitFor({ state: 'detached' });
      await logs.getByText('log-demo says hello on stderr').waitFor();
      await page.getByText('Staging log of the latest push').click();
      await page.locator('.staging-log pre').getByText('Droplet').waitFor();
    } finally {
      await page.close();
    }
  });

  test('env added in the page makes a release; Rollback brings the old body back through the router; a route mapped in the page answers', async () => {
    const viaRouter = (host: string) => httpGet(`${platform.routerUrl}/`, { Host: host });
    assert.match((await viaRouter('greeter.nap.localhost')).body, /^Hello from nap!/);
    const page = await signedIn(platform.adminToken);
    try {
      await page.goto(`${platform.controllerUrl}/apps/greeter`);
      await page.getByLabel('Name', { exact: true }).fill('GREETING');
      await page.getByLabel('Value', { exact: true }).fill('Howdy');
      await page.getByRole('button', { name: 'Add variable' }).click();
      await page.getByLabel('Value of GREETING').waitFor();
      await eventually(async () => /^Howdy!/.test((await viaRouter('greeter.nap.localhost')).body), 60_000, 'the new greeting through the router');
      // The release before the env change, rolled back to from its row.
      const releases = page.locator('table.releases tbody tr');
      await eventually(async () => (await releases.count()) >= 2, 10_000, 'two releases listed');
      const older = await releases.nth(1).getAttribute('data-release');
      await page.getByRole('button', { name: `Rollback to v${older}` }).click();
      await eventually(async () => /^Hello from nap!/.test((await viaRouter('greeter.nap.localhost')).body), 60_000, 'the old greeting back through the router');
      await page.getByText('rollback', { exact: false }).first().waitFor();

      await page.getByLabel('Host').fill('hi-there.nap.localhost');
      await page.getByRole('button', { name: 'Map route' }).click();
      await page.getByRole('button', { name: 'Unmap hi-there.nap.localhost' }).waitFor();
      await eventually(async () => /^Hello from nap!/.test((await viaRouter('hi-there.nap.localhost')).body), 30_000, 'the mapped route through the router');
    } finally {
      await page.close();
    }
  });

  test('deploy from git: the staging log shows as it is written, and the app answers through the router', async () => {
    const page = await signedIn(platform.adminToken);
    try {
      await page.getByRole('link', { name: 'Deploy from git' }).click();
      await page.getByLabel('App name').fill('cloned');
      await page.getByLabel('Repository URL').fill(`file://${repo}`);
      await page.getByLabel('Ref').fill('main');
      await page.getByRole('button', { name: 'Deploy' }).click();
      await page.getByLabel('Staging log').getByText('Droplet', { exact: false }).waitFor({ timeout: 120_000 });
      await page.getByRole('status').filter({ hasText: 'Deployed:' }).waitFor({ timeout: 120_000 });
      await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: 'cloned.nap.localhost' })).body === 'cloned by the dashboard\n', 30_000, 'the cloned app');
    } finally {
      await page.close();
    }
  });

  test('a similar app asks a value for each {param} of the command and answers with them', async () => {
    const page = await signedIn(platform.adminToken);
    try {
      await page.goto(`${platform.controllerUrl}/apps/param-echo`);
      await page.getByLabel('greeting').fill('Ahoy');
      await page.getByLabel('who').fill('dashboard');
      await page.getByLabel('New app name').fill('echo-dash');
      await page.getByRole('button', { name: 'Launch similar app' }).click();
      await page.getByRole('status').filter({ hasText: 'Started echo-dash' }).waitFor({ timeout: 60_000 });
      await eventually(async () => (await httpGet(`${platform.routerUrl}/`, { Host: 'echo-dash.nap.localhost' })).body === 'Ahoy, dashboard\n', 30_000, 'the similar app');
    } finally {
      await page.close();
    }
  });

  test('an admin makes a user in the page and sees its token once; that token signs in', async () => {
    const page = await signedIn(platform.adminToken);
    let token: string;
    try {
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByLabel('User name').fill('carol');
      await page.getByRole('button', { name: 'Create user' }).click();
      token = (await page.getByLabel('Token of carol').textContent())?.trim() ?? '';
      assert.match(token, /\S{16,}/);
    } finally {
      await page.close();
    }
    const carol = await signedIn(token);
    try {
      await carol.getByText('carol (developer)').waitFor();
      assert.equal(await carol.getByRole('link', { name: 'Users' }).count(), 0, 'a developer has no admin pages');
    } finally {
      await carol.close();
    }
  });

  test('every control has a name; at 375 px an app page fits; stop, start, and delete (asked first) act on the app', async () => {
    const page = await signedIn(platform.adminToken, 375);
    const viaRouter = () => httpGet(`${platform.routerUrl}/say?text=x`, { Host: 'talker.nap.localhost' });
    try {
      await page.goto(`${platform.controllerUrl}/apps/talker`);
      await page.getByRole('heading', { name: 'talker' }).waitFor();
      await page.locator('table.instances').waitFor();
      // What a screen reader is told: no button, field, list or link without a name.
      const tree = await page.locator('body').ariaSnapshot();
      const unnamed = tree.split('\n').filter((l) => /^\s*- (button|textbox|combobox|spinbutton|link|checkbox)\s*(:.*)?$/.test(l));
      assert.deepEqual(unnamed, [], tree);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the app page is ${overflow} px wider than a 375 px screen`);

      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await page.locator('.summary .state', { hasText: 'STOPPED' }).waitFor();
      // A stopped app keeps its route: the router says no instance can take it (503 no_endpoints).
      await eventually(async () => (await viaRouter()).headers['x-nap-router-error'] === 'no_endpoints', 30_000, 'the stopped app without endpoints in the router');
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page.locator('.summary .state', { hasText: 'STARTED' }).waitFor();
      await eventually(async () => (await viaRouter()).status === 200, 60_000, 'the started app back through the router');

      let asked = '';
      page.once('dialog', (d) => {
        asked = d.message();
        void d.accept();
      });
      await page.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('heading', { name: 'Apps' }).waitFor();
      assert.match(asked, /Delete talker/);
      const gone = await httpGet(`${platform.controllerUrl}/v1/apps/talker`, { Authorization: `Bearer ${platform.adminToken}` });
      assert.equal(gone.status, 404, gone.body);
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
      // Nor through the logs the controller reads for the page: its app, its rule (403), nothing read.
      for (const file of ['stdout', 'staging']) {
        const logs = await httpGet(`${platform.controllerUrl}/v1/apps/alice-app/logs?file=${file}&via=api`, { Authorization: `Bearer ${tokens.bob}` });
        assert.equal(logs.status, 403, `${file}: ${logs.body}`);
        assert.doesNotMatch(logs.body, /listening on|Droplet/);
      }
      // Usable at 375 px: nothing wider than the screen but the tables, which scroll in their own box.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 375 px screen`);
    } finally {
      await page.close();
    }
  });
});
