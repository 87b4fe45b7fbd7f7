"""nginx as an mTLS reverse proxy (configuration d): the config, generated into the temp dir."""

from __future__ import annotations

import shutil
from pathlib import Path

from material import Material


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def write_config(m: Material, port: int, core_port: int, workers: int) -> Path:
    """TLS like the gateway's (client certificate required, chain-checked), keep-alive to the core."""
    prefix = m.directory / f"nginx-{port}"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    affinity = "worker_cpu_affinity auto;" if workers > 1 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""\
daemon off;
master_process on;
user root;
worker_processes {workers};
{affinity}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/tmp/body;
  proxy_temp_path {prefix}/tmp/proxy;
  fastcgi_temp_path {prefix}/tmp/fastcgi;
  uwsgi_temp_path {prefix}/tmp/uwsgi;
  scgi_temp_path {prefix}/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_buffer_size 64k;
  upstream core {{
    server 127.0.0.1:{core_port};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {m.server_cert};
    ssl_certificate_key {m.server_key};
    ssl_client_certificate {m.trust};
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://core;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }}
  }}
}}
"""
    )
    return conf
