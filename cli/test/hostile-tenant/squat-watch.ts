import { connect } from 'node:net';

export const SQUAT_BANNER = 'nap-probe-squat';

export interface SquatObservation {
  /** A connection from the host to 127.0.0.1:port was answered by the probe's banner. */
  landed: boolean;
  /** What the host's connections saw: the banner, another answer, or the last error. */
  saw: string;
  attempts: number;
}

/** One connection from the host to 127.0.0.1:port: what came back in the first half second. */
function knock(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (what: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => done(data ? data : 'connected, nothing said in 500 ms'), 500);
    socket.on('data', (d: Buffer) => {
      data += d.toString('utf8');
      if (data.includes('\n')) done(data.trim());
    });
    socket.on('end', () => done(data.trim() || 'connected, closed without a word'));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/**
 * Knocks on a port from the host, as an engine's client reconnecting after a restart would, until
 * stopped or until the probe's banner answers: a tenant that binds the port inside its own network
 * namespace must never be what the host reaches.
 */
export function watchSquat(port: number, pauseMs = 150): { stop(): Promise<SquatObservation> } {
  let stopped = false;
  let observation: SquatObservation = { landed: false, saw: 'never knocked', attempts: 0 };
  const loop = (async () => {
    while (!stopped) {
      const saw = await knock(port);
      observation = { landed: saw.startsWith(SQUAT_BANNER), saw, attempts: observation.attempts + 1 };
      if (observation.landed) return;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return observation;
    },
  };
}
