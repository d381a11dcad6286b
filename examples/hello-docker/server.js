const http = require('http');
const os = require('os');

const index = process.env.NAP_INSTANCE_INDEX;

http
  .createServer((req, res) => {
    if (req.url === '/whoami') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ instance_index: Number(index), user: os.userInfo().username, cwd: process.cwd() }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`Hello from nap! (hello-docker instance ${index})\n`);
  })
  .listen(Number(process.env.PORT), () => console.log(`listening on ${process.env.PORT}`));
