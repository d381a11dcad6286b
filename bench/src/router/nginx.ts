import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * nginx as the reference reverse proxy: keep-alive to the backend, as many workers as cores, no
 * access log, everything (pid, logs, temp files) in `dir`. It also sets the forwarding headers the
 * router must add (X-Forwarded-For/-Proto/-Host, X-Request-Id, X-Vcap-Request-Id), so both proxies do the same work.
 * The upstream idle window (4 s) is shorter than the backend's keep-alive (Node's 5 s), as the
 * router's must be. With `tls` (PEM files) it terminates TLS as the router's TLS port does.
 */
export async function writeNginxConfig(dir: string, listenPort: number, backendPort: number, tls?: { cert: string; key: string }): Promise<string> {
  const tmp = (name: string) => join(dir, 'tmp', name);
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const conf = `daemon off;
worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 64;
    keepalive_timeout 4s;
  }
  server {
    listen 127.0.0.1:${listenPort}${tls ? ' ssl' : ''};
${tls ? `    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n    ssl_protocols TLSv1.2 TLSv1.3;\n` : ''}    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Request-Id $request_id;
      proxy_set_header X-Vcap-Request-Id $request_id;
    }
  }
}
`;
  const file = join(dir, 'nginx.conf');
  await writeFile(file, conf);
  return file;
}
