import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@nap/testkit';

export const probeSource = `${repoRoot}cli/test/fixtures/hostile-tenant/probe.js`;

/** One line of the probe's report (see probe.js). */
export interface ProbeResult {
  place: string;
  probe: string;
  via: string;
  target: string | null;
  reached: boolean;
  skipped?: boolean;
  detail: string;
}

/** What the probe needs to know of the platform: the PROBE_* variables of probe.js. */
export type ProbeTargets = Record<string, string>;

/** Squat ports per place: each place binds its own, so the places never collide. */
export interface SquatPorts {
  buildpackCompile: number;
  instance: number;
  dockerfileRun: number;
  imageInstance: number;
}

function appDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `nap-hostile-${prefix}-`));
}

/**
 * A Node.js app that runs the probe twice: in its buildpack's compile (package.json's `preinstall`,
 * with a local `file:` dependency so that npm install runs and needs no registry), and as its web
 * process, which answers GET / with the results. The targets are the app's own env.
 */
export function buildpackProbeApp(targets: ProbeTargets, squat: SquatPorts): string {
  const dir = appDir('buildpack');
  copyFileSync(probeSource, join(dir, 'probe.js'));
  mkdirSync(join(dir, 'innocent-dep'));
  writeFileSync(join(dir, 'innocent-dep', 'package.json'), JSON.stringify({ name: 'innocent-dep', version: '1.0.0' }));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'hostile',
      version: '1.0.0',
      private: true,
      scripts: {
        preinstall: `node probe.js --place=buildpack-compile --squat-port=${squat.buildpackCompile}`,
        start: `node probe.js serve --place=instance --squat-port=${squat.instance}`,
      },
      dependencies: { 'innocent-dep': 'file:./innocent-dep' },
    }),
  );
  // JSON is YAML: no quoting can go wrong.
  writeFileSync(join(dir, 'manifest.yml'), JSON.stringify({ applications: [{ name: 'hostile', memory: '128M', env: targets }] }));
  return dir;
}

/**
 * A Dockerfile app whose RUN step runs the probe (its output is in the staging log), and whose
 * image, run as an instance, serves the results like the buildpack app. A Dockerfile build has no
 * app env, so the targets travel in probe-targets.json; the unique file defeats the build cache.
 */
export function dockerfileProbeApp(targets: ProbeTargets, squat: SquatPorts): string {
  const dir = appDir('dockerfile');
  copyFileSync(probeSource, join(dir, 'probe.js'));
  writeFileSync(join(dir, 'probe-targets.json'), JSON.stringify({ ...targets, PROBE_SQUAT_PORT: squat.dockerfileRun }));
  writeFileSync(
    join(dir, 'Dockerfile'),
    [
      'FROM nap/stack:bookworm',
      'COPY probe.js probe-targets.json /probe/',
      // No USER: an attacker's Dockerfile keeps whatever the build runs as.
      'RUN node /probe/probe.js --place=dockerfile-run',
      `CMD ["node", "/probe/probe.js", "serve", "--place=image-instance", "--squat-port=${squat.imageInstance}"]`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'manifest.yml'), JSON.stringify({ applications: [{ name: 'hostile-docker', memory: '128M' }] }));
  return dir;
}

/** Another tenant's app: its body carries a marker nobody else may read. */
export function victimApp(marker: string): string {
  const dir = appDir('victim');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'victim', version: '1.0.0', private: true, scripts: { start: 'node server.js' } }));
  writeFileSync(
    join(dir, 'server.js'),
    `require('http').createServer((q, r) => r.end(${JSON.stringify(`victim body ${marker}\n`)})).listen(Number(process.env.PORT));\n`,
  );
  writeFileSync(join(dir, 'manifest.yml'), JSON.stringify({ applications: [{ name: 'victim', memory: '64M' }] }));
  return dir;
}

/**
 * The probe's lines in a staging log (indented by seven spaces). The DEA writes a Dockerfile
 * build's output message by message, and a message can end mid-line: a result that does not parse
 * is joined with the lines after it (indent removed) until it does.
 */
export function parseProbeLines(text: string, place: string): ProbeResult[] {
  const results: ProbeResult[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = lines[i].indexOf('NAP-PROBE {');
    if (start < 0) continue;
    let json = lines[i].slice(start + 'NAP-PROBE '.length).trimEnd();
    let r: ProbeResult | null = null;
    for (let joined = 0; ; joined++) {
      try {
        r = JSON.parse(json) as ProbeResult;
        break;
      } catch {
        if (joined >= 5 || i + 1 >= lines.length || lines[i + 1].includes('NAP-PROBE {')) break;
        json += lines[++i].replace(/^ {7}/, '').trimEnd();
      }
    }
    if (r?.place === place) results.push(r);
  }
  return results;
}
