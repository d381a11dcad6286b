// GET /say?text=T prints T on stdout; /crash?text=T prints "last words: T" on stderr and exits 3;
// /flood?lines=N prints N long lines; /partial?text=T prints T with no end of line;
// /stop-listening closes the port but keeps the process alive (a hung app);
// /tick?ms=M&count=N prints "tick 0" … "tick N-1" on stdout, one every M ms, and answers with its instance index.
const http = require('http');

console.log(`log-demo started on port ${process.env.PORT}`);
console.error('log-demo says hello on stderr');

const server = http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const text = url.searchParams.get('text') || '';
    if (url.pathname === '/say') {
      console.log(text);
      res.end('said\n');
    } else if (url.pathname === '/crash') {
      console.error(`last words: ${text || 'goodbye'}`);
      res.end('crashing\n');
      setTimeout(() => process.exit(3), 50);
    } else if (url.pathname === '/stop-listening') {
      res.end('no longer listening\n');
      server.close();
      server.closeAllConnections();
      setInterval(() => {}, 60_000);
    } else if (url.pathname === '/tick') {
      const ms = Math.max(10, Number(url.searchParams.get('ms')) || 100);
      const count = Math.min(Number(url.searchParams.get('count')) || 100, 100_000);
      let n = 0;
      const timer = setInterval(() => {
        console.log(`tick ${n++}`);
        if (n >= count) clearInterval(timer);
      }, ms);
      res.end(`ticking in instance ${process.env.NAP_INSTANCE_INDEX}\n`);
    } else if (url.pathname === '/partial') {
      process.stdout.write(text);
      res.end('written\n');
    } else if (url.pathname === '/flood') {
      const lines = Math.min(Number(url.searchParams.get('lines')) || 1000, 1_000_000);
      for (let i = 0; i < lines; i++) console.log(`flood line ${i} ${'x'.repeat(80)}`);
      res.end('flooded\n');
    } else {
      res.end('log-demo\n');
    }
  })
  .listen(Number(process.env.PORT));
