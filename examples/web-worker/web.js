const http = require('http');

const index = process.env.NAP_INSTANCE_INDEX;
http
  .createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`Hello from nap! (web-worker web instance ${index})\n`);
  })
  .listen(Number(process.env.PORT), () => console.log(`listening on ${process.env.PORT}`));
