const http = require('http');

const app = JSON.parse(process.env.VCAP_APPLICATION || '{}');
const greeting = process.env.GREETING || 'Hello from nap';

http
  .createServer((req, res) => {
    if (req.url === '/instance') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ instance_index: app.instance_index, instance_id: app.instance_id, port: process.env.PORT }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`${greeting}! (${app.application_name} instance ${app.instance_index})\n`);
  })
  .listen(Number(process.env.PORT), () => console.log(`listening on ${process.env.PORT}`));
