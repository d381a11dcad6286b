import type { AppView } from '@nap/common/api-views';

export const megabytes = (mb: number) => (mb >= 1024 && mb % 1024 === 0 ? `${mb / 1024} GB` : `${mb} MB`);

/** Running of desired instances, per process type that runs (web first): "web 2/2, worker 0/1". */
export function instancesOf(app: AppView): string {
  const types = app.processes.filter((p) => p.type === 'web' || p.command !== null);
  if (types.length <= 1) return `${app.running_instances}/${app.instances}`;
  return types.map((p) => `${p.type} ${p.running_instances}/${p.instances}`).join(', ');
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

export function duration(seconds: number): string {
  return ago(new Date(Date.now() - seconds * 1000).toISOString());
}
