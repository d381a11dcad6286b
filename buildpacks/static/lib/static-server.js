// Serves public/ on $PORT: the static buildpack's web process. No dependencies, so the droplet is tiny.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', 'public');
const types = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.gif': 'image/gif', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2', '.webp': 'image/webp',
};

function resolveInside(urlPath) {
  let decoded;
  try { decoded = decodeURIComponent(urlPath.split('?')[0]); } catch { return null; }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

function send(res, status, file, headOnly) {
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) return notFound(res, headOnly);
    res.writeHead(status, { 'Content-Type': types[path.extname(file).toLowerCase()] || 'application/octet-stream', 'Content-Length': st.size });
    if (headOnly) return res.end();
    fs.createReadStream(file).pipe(res);
  });
}

function notFound(res, headOnly) {
  const page = path.join(root, '404.html');
  if (fs.existsSync(page)) return send(res, 404, page, headOnly);
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(headOnly ? undefined : 'Not Found\n');
}

http.createServer((req, res) => {
  const headOnly = req.method === 'HEAD';
  if (req.method !== 'GET' && !headOnly) { res.writeHead(405, { Allow: 'GET, HEAD' }); return res.end(); }
  const file = resolveInside(req.url || '/');
  if (!file) return notFound(res, headOnly);
  fs.stat(file, (err, st) => {
    if (!err && st.isDirectory()) return send(res, 200, path.join(file, 'index.html'), headOnly);
    send(res, 200, file, headOnly);
  });
}).listen(Number(process.env.PORT) || 8080);
