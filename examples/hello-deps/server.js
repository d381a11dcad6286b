const http = require('http');
const ms = require('ms');

http.createServer((req, res) => res.end(`two days is ${ms('2 days')} ms\n`)).listen(Number(process.env.PORT));
