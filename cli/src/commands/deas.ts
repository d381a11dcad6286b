import type { ApiClient } from '../api-client.js';
import { type Output, table } from '../output.js';

interface DeaView {
  id: string;
  host: string;
  zone: string;
  available_memory_mb: number;
  memory_mb?: number;
  available_disk_mb: number;
  unavailable?: string;
  app_id_to_count: Record<string, number>;
}

/** nap deas (admin): the DEAs that advertised lately, their zone, room and instances. */
export async function listDeas(api: ApiClient, out: Output): Promise<void> {
  const deas = await api.call<DeaView[]>('GET', '/v1/deas');
  const rows = deas.map((d) => [d.id, d.host, d.zone, d.memory_mb === undefined ? `${d.available_memory_mb}M` : `${d.available_memory_mb}M of ${d.memory_mb}M`, `${d.available_disk_mb}M`, Object.values(d.app_id_to_count).reduce((a, b) => a + b, 0), d.unavailable ?? '']);
  out.result(deas.length === 0 ? 'No DEA has advertised lately: check nap status' : table(['id', 'host', 'zone', 'free memory', 'free disk', 'instances', 'not taking work'], rows), deas);
}
