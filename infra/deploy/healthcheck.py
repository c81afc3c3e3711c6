"""The image's HEALTHCHECK (Docker / compose only; Kubernetes uses the probes in k8s/).

entrypoint.sh records what the container runs in $DAIRA_ROLE_FILE (default /tmp/daira-role):
  api     GET http://127.0.0.1:$PORT/health/live must answer 200 (the process and its loop).
  worker  this container's stream worker must have written its heartbeat to Redis within
          WORKER_HEARTBEAT_TTL seconds (infra/heartbeat.py; worker ids are "<hostname>:<pid>").
  other   healthy (migrate and one-off commands exit on their own).
Exit 0 = healthy, 1 = unhealthy. Imports only what its check needs (it runs every 15 s).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request

ROLE_FILE = os.environ.get("DAIRA_ROLE_FILE") or "/tmp/daira-role"


def role() -> str:
    try:
        with open(ROLE_FILE) as f:
            return f.read().strip()
    except OSError:
        return "api"  # the image's default command


def check_api() -> str | None:
    url = f"http://127.0.0.1:{os.environ.get('PORT') or '3000'}/health/live"
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return None if r.status == 200 else f"{url} answered {r.status}"
    except Exception as exc:
        return f"{url}: {exc!r}"


def check_worker() -> str | None:
    import orjson
    import redis

    from infra.heartbeat import KEY
    from infra.settings import Settings  # REDIS_URL, or the seed's REDIS_HOST/PORT/PASSWORD

    ttl = float(os.environ.get("WORKER_HEARTBEAT_TTL") or 10)
    prefix = f"{socket.gethostname()}:"
    try:
        client = redis.Redis.from_url(Settings().redis_url, socket_timeout=3, socket_connect_timeout=3)
        entries = client.hgetall(KEY)
    except Exception as exc:
        return f"redis: {exc!r}"
    now = time.time()
    for wid, raw in entries.items():
        if wid.decode().startswith(prefix) and now - orjson.loads(raw)["ts"] <= ttl:
            return None
    return f"no heartbeat from {prefix}* within {ttl:g}s"


def main() -> int:
    checks = {"api": check_api, "worker": check_worker}
    check = checks.get(role())
    error = check() if check else None
    if error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
