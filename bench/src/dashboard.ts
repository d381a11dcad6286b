// bench/dashboard: the web dashboard in Debian's Chromium (playwright-core), against a whole nap on
// real engines. Time until the app list of 1,000 apps is shown and answers a click (goal ≤ 1 s),
// what the first load transfers, and the delay from a line an app prints to the line shown in
// the logs view (goal p99 ≤ 500 ms). Writes bench/results/dashboard.md.
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumPath, httpGet, nap, repoRoot, TestPlatform } from '@nap/testkit';

const APPS = 1000;
const LINES = 100;
const fmt = (ms: number) => ms.toFixed(0);
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

const executablePath = chromiumPath();
if (!executablePath) throw new Error('chromium is not installed: run deploy/setup (it installs it)');

const platform = await TestPlatform.start();
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const auth = { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' };
  const talker = await nap(['push', 'talker', '-p', join(repoRoot, 'examples/log-demo')], platform.cliEnv());
  if (talker.code !== 0) throw new Error(talker.stderr);
  // 1,000 apps, made as the API makes them (no bits: they are listed, not run).
  for (let i = 0; i < APPS; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, APPS - i) }, async (_, j) => {
        const r = await httpGet(`${platform.controllerUrl}/v1/apps/bench-${String(i + j).padStart(4, '0')}`, auth, 'PUT', '{}');
        if (r.status !== 201 && r.status !== 200) throw new Error(`making app ${i + j}: ${r.status} ${r.body}`);
      }),
    );
  }

  // The controller has just taken 1,000 new apps: let it settle, so the loads measure the page.
  for (let calm = 0; calm < 3; ) {
    calm = (await httpGet(`${platform.controllerUrl}/v1/apps`, auth)).status === 200 ? calm + 1 : 0;
    await new Promise((done) => setTimeout(done, 1000));
  }

  // Cold first loads, signed in (the token is in the tab before the page starts); the median of LOADS.
  const LOADS = 5;
  const loads: { interactive: number; listAnswer: number; transferred: number }[] = [];
  let context = await browser.newContext();
  let page = await context.newPage();
  for (let n = 0; n < LOADS; n++) {
    await context.close();
    context = await browser.newContext();
    await context.addInitScript((token: string) => sessionStorage.setItem('nap.token', token), platform.adminToken);
    page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    let transferred = 0;
    cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => (transferred += e.encodedDataLength));
    await page.goto(`${platform.controllerUrl}/`);
    // Measured in the page, at the first frame where every row is there (no round trip to this process).
    const interactive = (await (
      await page.waitForFunction((count) => (document.querySelectorAll('table.apps tbody tr').length > count ? performance.now() : false), APPS, { polling: 'raf', timeout: 60_000 })
    ).jsonValue()) as number;
    const listAnswer = await page.evaluate(() => {
      const first = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/v1/apps')) as PerformanceResourceTiming | undefined;
      return first ? first.responseEnd - first.requestStart : Number.NaN;
    });
    loads.push({ interactive, listAnswer, transferred });
  }
  loads.sort((x, y) => x.interactive - y.interactive);
  const { interactive, listAnswer, transferred: listBytes } = loads[Math.floor(LOADS / 2)];
  const slowest = loads[LOADS - 1].interactive;
  // Interactive: a click on the last app opens its page.
  const clicked = await page.evaluate(() => performance.now());
  await page.locator('tr[data-app="talker"] a').first().click();
  await page.getByRole('heading', { name: 'talker' }).waitFor();
  const opened = (await page.evaluate(() => performance.now())) - clicked;
  const scripts = await page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .filter((e) => (e as PerformanceResourceTiming).initiatorType === 'script')
      .reduce((n, e) => n + (e as PerformanceResourceTiming).transferSize, 0),
  );

  // Log delay: each line's time of print (the app answers after console.log) against the time it shows.
  const logs = page.getByLabel('Log lines');
  await logs.getByText('log-demo started on port').waitFor({ timeout: 30_000 });
  await page.evaluate(() => {
    const seen = new Map<string, number>();
    (window as unknown as { seen: Map<string, number> }).seen = seen;
    new MutationObserver(() => {
      for (const line of document.querySelectorAll('.log-lines > div')) {
        const m = /mark-(\d+)$/.exec(line.textContent ?? '');
        if (m && !seen.has(m[1])) seen.set(m[1], performance.timeOrigin + performance.now());
      }
    }).observe(document.querySelector('.log-lines')!, { childList: true, subtree: true, characterData: true });
  });
  const printed = new Map<string, number>();
  for (let i = 0; i < LINES; i++) {
    const r = await httpGet(`${platform.routerUrl}/say?text=mark-${i}`, { Host: 'talker.nap.localhost' });
    if (r.status !== 200) throw new Error(`say: ${r.status}`);
    printed.set(String(i), Date.now());
    await new Promise((done) => setTimeout(done, 50));
  }
  await page.waitForFunction((n) => (window as unknown as { seen: Map<string, number> }).seen.size >= n, LINES, { timeout: 30_000 });
  const seen = new Map(await page.evaluate(() => [...(window as unknown as { seen: Map<string, number> }).seen.entries()]));
  const delays = [...printed].map(([k, at]) => (seen.get(k) ?? Number.NaN) - at);

  const rows: [string, string, string][] = [
    [`app list of ${APPS} apps shown (time to interactive)`, `${fmt(interactive)} ms`, `goal ≤ 1 s; median of ${LOADS} cold loads (slowest ${fmt(slowest)} ms), from navigation start to the first frame with every row; the API's answer (GET /v1/apps) took ${fmt(listAnswer)} ms of it`],
    ['a click on an app → its page', `${fmt(opened)} ms`, ''],
    ['first load, transferred', `${(listBytes / 1024).toFixed(1)} KB`, `of which JavaScript ${(scripts / 1024).toFixed(1)} KB (gzip; goal ≤ 150 KB); the list of ${APPS} apps is the rest`],
    [`log line printed → shown (${LINES} lines)`, `p50 ${fmt(percentile(delays, 50))} ms, p99 ${fmt(percentile(delays, 99))} ms`, 'goal p99 ≤ 500 ms; through the controller from the directory server'],
  ];
  for (const r of rows) console.log(r.join(' | '));
  await writeFile(
    join(repoRoot, 'bench/results/dashboard.md'),
    [
      '# bench/dashboard',
      '',
      `${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. Debian's Chromium, headless, driven by playwright-core, against a whole nap on real engines (one node); a cold first load signed in as admin.`,
      '',
      '| what | figure | notes |',
      '|---|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
    ].join('\n'),
  );
} finally {
  await browser.close();
  await platform.stop();
}
