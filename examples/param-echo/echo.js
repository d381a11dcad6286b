const http = require('http');

const arg = (flag) => process.argv[process.argv.indexOf(flag) + 1];
const text = `${arg('--greeting')}, ${arg('--who')}`;
http.createServer((req, res) => res.end(`${text}\n`)).listen(Number(process.env.PORT));
