// The java buildpack end to end on the real stack images: the builder stages an executable jar, a
// jar without a Main-Class, a war and a Maven project the way the DEA's staging task runs it, and
// the staged apps really serve from nap/stack:bookworm-jvm (made by deploy/stack-variant jvm).
// Needs Docker, the stack image (deploy/setup) and a host javac. No mocks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, DEFAULT_RUNTIMES_DIR } from '@nap/common';
import { eventually, httpGet, removeContainers, repoRoot } from '@nap/testkit';
import { parse as parseYaml } from 'yaml';
import { DockerRuntime } from '../src/runtime/docker-runtime.js';
import { builderContainer } from '../src/staging/buildpack-staging.js';

const STACK = 'nap/stack:bookworm';
const JVM_STACK = 'nap/stack:bookworm-jvm';
const installation = `java-bp-test-${randomBytes(4).toString('hex')}`;
const label = `nap.installation=${installation}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 300_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function mustRun(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

interface Staged {
  code: number;
  log: string;
  appDir: string;
  buildpack: string | null;
  release: { default_process_types?: Record<string, string>; stack_variant?: string } | null;
}

let work: string;
let helloJar: string;

/** As the DEA's staging runs the builder (builderContainer, by its DockerRuntime): app, cache and output owned by vcap. */
async function stage(name: string, files: (appDir: string) => Promise<void>, image = STACK, network: 'host' | 'none' = 'host'): Promise<Staged> {
  const dir = join(work, name);
  const appDir = join(dir, 'app');
  const out = join(dir, 'output');
  const cache = join(dir, 'cache');
  for (const d of [appDir, out, cache]) await mkdir(d, { recursive: true });
  await files(appDir);
  await mustRun('chown', ['-R', '2000:2000', dir]);
  const spec = builderContainer(
    { app_id: randomUUID(), app_name: name, task_id: randomUUID(), env: {}, buildpack: undefined, memory_mb: 1024 },
    { deaId: installation, buildpacksDir: join(repoRoot, 'buildpacks'), lifecycleDir: join(repoRoot, 'services/dea/lifecycle'), runtimes: { dir: DEFAULT_RUNTIMES_DIR } },
    { app: appDir, cache, output: out },
    image,
  );
  let text = '';
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((text += chunk.toString('utf8')), done()) });
  const exit = await new DockerRuntime(process.env.NAP_DOCKER_SOCKET ?? '/var/run/docker.sock', installation, network).runToCompletion(spec, sink, 600_000);
  // The staging container has a terminal, as the DEA runs it: lines end in CRLF.
  const r = { code: exit.exitCode, stdout: text.replace(/\r\n/g, '\n'), stderr: '' };
  const read = (f: string) => readFile(join(out, f), 'utf8').then((s) => s.trim(), () => null);
  const releaseText = await read('release.yml');
  return {
    code: r.code,
    log: r.stdout + r.stderr,
    appDir,
    buildpack: await read('buildpack'),
    release: releaseText === null ? null : (parseYaml(releaseText) as Staged['release']),
  };
}

/** Runs a staged app the way the DEA starts an instance: .profile.d first, then the web command. */
async function startInstance(appDir: string, command: string): Promise<{ port: number; id: string }> {
  const port = await freePort();
  const id = (
    await mustRun('docker', [
      'run', '-d', '--network', 'host', '-u', '2000:2000', '--label', label,
      '-e', `PORT=${port}`, '-e', 'NAP_INSTANCE_INDEX=0', '-e', 'MEMORY_LIMIT=256m',
      '-v', `${appDir}:/home/vcap/app`, '-w', '/home/vcap/app',
      JVM_STACK, 'sh', '-c', 'for f in .profile.d/*.sh; do [ -f "$f" ] && . ./$f; done; exec sh -c "$0"', command,
    ])
  ).trim();
  return { port, id };
}

async function fetchWhenUp(port: number, id: string, path = '/'): Promise<string> {
  try {
    return await eventually(async () => {
      const res = await httpGet(`http://127.0.0.1:${port}${path}`);
      return res.status === 200 ? res.body : undefined;
    }, 30_000, `the app on port ${port}`);
  } catch (err) {
    const logs = await run('docker', ['logs', id]);
    throw new Error(`${(err as Error).message}\ninstance output:\n${logs.stdout}${logs.stderr}`);
  }
}

let variant: Promise<Run> | undefined;
/** Built once per machine (a minute or two the first time); a no-op when the image is current. */
function ensureJvmStack(): Promise<Run> {
  variant ??= run(join(repoRoot, 'deploy/stack-variant'), ['jvm'], 900_000);
  return variant;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nap-java-bp-'));
  const built = await mustRun(join(repoRoot, 'examples/hello-java/build.sh'), [join(work, 'jar')]);
  helloJar = built.trim();
});

after(async () => {
  await removeContainers(installation);
  if (work) await rm(work, { recursive: true, force: true });
});

test('an executable jar is detected, released for the jvm stack, and serves from it', async () => {
  const staged = await stage('hello-java', (app) => cp(helloJar, join(app, 'hello.jar')));
  assert.equal(staged.code, 0, staged.log);
  assert.equal(staged.buildpack, 'java');
  assert.match(staged.log, /-----> Executable jar hello\.jar \(Main-Class: Hello\)/);
  assert.deepEqual(staged.release, { default_process_types: { web: 'java $JAVA_OPTS -jar hello.jar' }, stack_variant: 'jvm' });

  const built = await ensureJvmStack();
  assert.equal(built.code, 0, built.stdout + built.stderr);
  // Idempotent and quiet once the image is there.
  const again = await run(join(repoRoot, 'deploy/stack-variant'), ['jvm']);
  assert.deepEqual([again.code, again.stdout, again.stderr], [0, '', '']);

  const heap = await mustRun('docker', [
    'run', '--rm', '-u', '2000:2000', '--label', label, '-e', 'MEMORY_LIMIT=256m', '-v', `${staged.appDir}:/home/vcap/app`, '-w', '/home/vcap/app',
    JVM_STACK, 'sh', '-c', '. ./.profile.d/java.sh; echo "$JAVA_OPTS"',
  ]);
  assert.match(heap, /-Xmx192m/);

  const web = staged.release?.default_process_types?.web ?? '';
  const { port, id } = await startInstance(staged.appDir, web);
  assert.equal(await fetchWhenUp(port, id), 'Hello from nap! (hello-java instance 0)\n');
});

test('a Procfile adds process types to the release', async () => {
  const staged = await stage('procfile', async (app) => {
    await cp(helloJar, join(app, 'hello.jar'));
    await writeFile(join(app, 'Procfile'), 'worker: java $JAVA_OPTS -cp hello.jar Hello\n');
  });
  assert.equal(staged.code, 0, staged.log);
  assert.deepEqual(staged.release?.default_process_types, {
    web: 'java $JAVA_OPTS -jar hello.jar',
    worker: 'java $JAVA_OPTS -cp hello.jar Hello',
  });
});

test('a jar without a Main-Class fails staging with the reason', async () => {
  const staged = await stage('no-main', async (app) => {
    const classes = join(work, 'no-main-classes');
    await mkdir(classes, { recursive: true });
    await writeFile(join(classes, 'readme.txt'), 'a library, not an app\n');
    await mustRun('jar', ['--create', '--file', join(app, 'library.jar'), '-C', classes, '.']);
  });
  assert.equal(staged.code, 222, staged.log);
  assert.equal(staged.buildpack, 'java');
  assert.match(staged.log, /library\.jar is a jar without a Main-Class in META-INF\/MANIFEST\.MF/);
  assert.equal(staged.release, null);
});

test('a jar whose Main-Class is not in it fails staging', async () => {
  const staged = await stage('missing-main', async (app) => {
    const classes = join(work, 'missing-main-classes');
    await mkdir(classes, { recursive: true });
    await writeFile(join(classes, 'readme.txt'), 'no classes\n');
    await mustRun('jar', ['--create', '--file', join(app, 'app.jar'), '--main-class', 'com.example.Gone', '-C', classes, '.']);
  });
  assert.equal(staged.code, 222, staged.log);
  assert.match(staged.log, /names Main-Class com\.example\.Gone, but the jar has no com\.example\.Gone\.class/);
});

test('a war runs as the root webapp of Jetty from the jvm stack', async () => {
  const built = await ensureJvmStack();
  assert.equal(built.code, 0, built.stdout + built.stderr);
  // The host has no servlet API: the war is compiled in the jvm stack, which has Debian's.
  const src = join(work, 'war-src');
  await mkdir(join(src, 'WEB-INF'), { recursive: true });
  await writeFile(
    join(src, 'HelloServlet.java'),
    `import java.io.IOException;
import javax.servlet.http.*;
public class HelloServlet extends HttpServlet {
  protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
    resp.setContentType("text/plain");
    resp.getWriter().print("Hello from a war on nap! (" + req.getRequestURI() + ")");
  }
}
`,
  );
  await writeFile(
    join(src, 'WEB-INF/web.xml'),
    `<web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="3.1">
  <servlet><servlet-name>hello</servlet-name><servlet-class>HelloServlet</servlet-class></servlet>
  <servlet-mapping><servlet-name>hello</servlet-name><url-pattern>/*</url-pattern></servlet-mapping>
</web-app>
`,
  );
  await mustRun('chown', ['-R', '2000:2000', src]);
  await mustRun('docker', [
    'run', '--rm', '-u', '2000:2000', '--label', label, '-v', `${src}:/src`, '-w', '/src', JVM_STACK, 'sh', '-c',
    'javac --release 17 -cp /usr/share/java/servlet-api.jar -d WEB-INF/classes HelloServlet.java && jar --create --file hello.war WEB-INF',
  ]);

  const staged = await stage('war', (app) => cp(join(src, 'hello.war'), join(app, 'hello.war')));
  assert.equal(staged.code, 0, staged.log);
  assert.equal(staged.buildpack, 'java');
  assert.equal(staged.release?.stack_variant, 'jvm');
  const web = staged.release?.default_process_types?.web ?? '';
  assert.match(web, /WarLauncher\.java hello\.war$/);
  const { port, id } = await startInstance(staged.appDir, web);
  assert.equal(await fetchWhenUp(port, id, '/some/path'), 'Hello from a war on nap! (/some/path)');
});

test('a Maven project on a node that reaches no repository fails with advice', async () => {
  const built = await ensureJvmStack();
  assert.equal(built.code, 0, built.stdout + built.stderr);
  // pom.xml apps are staged on the jvm stack, as the DEA does; with no network at all, so that
  // no repository is reachable whatever this machine reaches.
  const staged = await stage('hello-maven', (app) => cp(join(repoRoot, 'examples/hello-maven'), app, { recursive: true }), JVM_STACK, 'none');
  assert.equal(staged.code, 222, staged.log);
  assert.equal(staged.buildpack, 'java');
  assert.match(
    staged.log,
    /pom\.xml found, but no Maven repository is reachable from this node: run `mvn package` yourself and push the jar \(target\/\*\.jar\), or configure a reachable mirror in \.mvn\/settings\.xml/,
  );
  assert.doesNotMatch(staged.log, /\x1b\[/, 'the staging log has no terminal colour codes');
});

test("a Maven project's .mvn/settings.xml mirror is used, and an unreachable one gets the same advice", async () => {
  const built = await ensureJvmStack();
  assert.equal(built.code, 0, built.stdout + built.stderr);
  const closed = await freePort(); // nothing listens there: connection refused
  const staged = await stage(
    'maven-mirror',
    async (app) => {
      await cp(join(repoRoot, 'examples/hello-maven'), app, { recursive: true });
      await mkdir(join(app, '.mvn'), { recursive: true });
      await writeFile(
        join(app, '.mvn/settings.xml'),
        `<settings><mirrors><mirror><id>local</id><mirrorOf>*</mirrorOf><url>http://127.0.0.1:${closed}/maven2</url></mirror></mirrors></settings>\n`,
      );
    },
    JVM_STACK,
  );
  assert.equal(staged.code, 222, staged.log);
  assert.match(staged.log, /using the repositories of \.mvn\/settings\.xml/);
  assert.match(staged.log, new RegExp(`127\\.0\\.0\\.1:${closed}`), 'maven tried the mirror');
  assert.match(staged.log, /no Maven repository is reachable from this node/);
});

test('deploy/stack-variant refuses an unknown variant', async () => {
  const r = await run(join(repoRoot, 'deploy/stack-variant'), ['nosuch']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown stack variant 'nosuch'; known variants: jvm/);
});
