import type { ApiClient } from '../api-client.js';
import type { Output } from '../output.js';

export async function createUser(api: ApiClient, out: Output, name: string, admin: boolean): Promise<void> {
  const made = await api.call<{ name: string; role: string; token: string }>('POST', '/v1/users', { name, role: admin ? 'admin' : 'developer' });
  out.result(`Created ${made.role} ${made.name}. Their token (shown only now):\n${made.token}\nThey log in with: nap login --token ${made.token}`, made);
}
