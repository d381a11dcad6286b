import { caPinOf } from '@nap/common/without-engines';

/** What an admin runs on a new host: the token in the env (ps shows arguments), and the CA's pin for an https API. */
export function joinCommandFor(api: string, token: string, ca: string | undefined): string {
  return `NAP_JOIN_TOKEN=${token} nap join ${api}${ca ? ` --ca-pin ${caPinOf(ca)}` : ''} --advertise <that host's address>`;
}
