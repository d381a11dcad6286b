// Serves on $PORT so it passes its health check, then grows by 16 MB every 50 ms until the kernel stops it.
require('http').createServer((req, res) => res.end('hog\n')).listen(Number(process.env.PORT));
const held = [];
setTimeout(() => setInterval(() => held.push(Buffer.alloc(16 * 1024 * 1024, 1)), 50), 500);
