// Serves public/ on $PORT: the static buildpack's web process. No dependencies (it runs on the
// stack's node), so the droplet is tiny.
//
// Caching: HTML is revalidated on every visit (a new push must show at once), other files may be
// kept NAP_STATIC_MAX_AGE seconds (default 60); both answer 304 to a matching ETag or
// If-Modified-Since. Text is gzipped for clients that accept it.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const root = path.resolve(__dirname, '..', 'public');
const maxAge = Number.isInteger(Number(process.env.NAP_STATIC_MAX_AGE)) && process.env.NAP_STATIC_MAX_AGE !== ''
  ? Number(process.env.NAP_STATIC_MAX_AGE) : 60;
const types = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.map': 'application/json', '.svg': 'image/svg+xml', '.xml': 'application/xml', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8', '.csv': 'text/csv; charset=utf-8', '.woff': 'font/woff', '.woff2': 'font/woff2',
  '.webp': 'image/webp', '.wasm': 'application/wasm', '.pdf': 'application/pdf',
};
// Smaller than this, gzip's header and the lost Content-Length cost more than they save.
const GZIP_MIN_BYTES = 1024;

function resolveInside(urlPath) {
  let decoded;
  try { decoded = decodeURIComponent(urlPath.split('?')[0]); } catch { return null; }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

function compressible(type) {
  return /^text\/|^application\/(json|javascript|xml|wasm)|\+xml|\+json/.test(type);
}

function acceptsGzip(req) {
  const header = String(req.headers['accept-encoding'] || '');
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().split(';');
    if (coding.trim().toLowerCase() !== 'gzip') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  });
}

// Weak: the same ETag stands for the plain and the gzipped body (Vary tells caches apart).
function etagOf(st) {
  return `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

function notModified(req, etag, mtime) {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    const bare = etag.replace(/^W\//, '');
    return inm.split(',').some((t) => { t = t.trim(); return t === '*' || t.replace(/^W\//, '') === bare; });
  }
  const ims = Date.parse(String(req.headers['if-modified-since'] || ''));
  return !Number.isNaN(ims) && Math.floor(mtime.getTime() / 1000) * 1000 <= ims;
}

function send(req, res, status, file, headOnly) {
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) return notFound(req, res, headOnly);
    const type = types[path.extname(file).toLowerCase()] || 'application/octet-stream';
    const etag = etagOf(st);
    const headers = {
      'Content-Type': type,
      'Cache-Control': status !== 200 || type.startsWith('text/html') ? 'no-cache' : `public, max-age=${maxAge}`,
    };
    if (status === 200) {
      headers.ETag = etag;
      headers['Last-Modified'] = st.mtime.toUTCString();
    }
    const gzip = compressible(type) && st.size >= GZIP_MIN_BYTES;
    if (gzip) headers.Vary = 'Accept-Encoding';
    if (status === 200 && notModified(req, etag, st.mtime)) {
      delete headers['Content-Type'];
      res.writeHead(304, headers);
      return res.end();
    }
    const stream = () => fs.createReadStream(file).on('error', () => res.destroy());
    if (gzip && acceptsGzip(req)) {
      headers['Content-Encoding'] = 'gzip';
      res.writeHead(status, headers);
      if (headOnly) return res.end();
      return stream().pipe(zlib.createGzip()).pipe(res);
    }
    headers['Content-Length'] = st.size;
    res.writeHead(status, headers);
    if (headOnly) return res.end();
    stream().pipe(res);
  });
}

function notFound(req, res, headOnly) {
  const page = path.join(root, '404.html');
  fs.stat(page, (err, st) => {
    if (!err && st.isFile()) return send(req, res, 404, page, headOnly);
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.end(headOnly ? undefined : 'Not Found\n');
  });
}

http.createServer((req, res) => {
  const headOnly = req.method === 'HEAD';
  if (req.method !== 'GET' && !headOnly) { res.writeHead(405, { Allow: 'GET, HEAD' }); return res.end(); }
  const url = req.url || '/';
  const file = resolveInside(url);
  if (!file) return notFound(req, res, headOnly);
  fs.stat(file, (err, st) => {
    if (!err && st.isDirectory()) {
      // Relative links in dir/index.html only work when the address ends in a slash.
      const [pathname, query] = url.split(/\?(.*)/s);
      if (!pathname.endsWith('/')) {
        // One leading slash: `//host` would be another site.
        res.writeHead(301, { Location: `/${pathname.replace(/^\/+/, '')}/${query !== undefined ? `?${query}` : ''}` });
        return res.end();
      }
      return send(req, res, 200, path.join(file, 'index.html'), headOnly);
    }
    send(req, res, 200, file, headOnly);
  });
}).listen(Number(process.env.PORT) || 8080);
