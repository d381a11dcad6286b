// A websocket echo app in its own process, so a test can kill it mid-socket: `node ws-backend.js PORT`.
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
// `node --test dist/test/` runs every file under it, this one too: without a port it does nothing.
if (!process.send || !Number.isInteger(port) || port <= 0) process.exit(0);
const wss = new WebSocketServer({ port, host: '127.0.0.1' });
wss.on('connection', (ws) => {
  ws.send('welcome');
  ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
});
wss.on('listening', () => process.send?.('ready'));
