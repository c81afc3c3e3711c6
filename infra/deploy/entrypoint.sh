#!/bin/sh
# The image's entrypoint: `api`, `worker`, `migrate`, `wait-migrated`, or any command to run.
# Each branch execs, so the process itself receives SIGTERM from tini (PID 1).
set -eu

role="${1:-api}"
[ "$#" -gt 0 ] && shift

# Tells healthcheck.py what this container runs; a read-only /tmp is fine (k8s ignores it).
{ printf '%s\n' "$role" > "${DAIRA_ROLE_FILE:-/tmp/daira-role}"; } 2>/dev/null || true

case "$role" in
  api)
    # One event loop per container: scale with replicas, not with --workers.
    # --timeout-graceful-shutdown bounds how long open websockets delay the exit after
    # SIGTERM; keep it below the orchestrator's grace period (30 s in compose.yaml and k8s).
    exec uvicorn api.asgi:app --host 0.0.0.0 --port "${PORT:-3000}" \
         --loop uvloop --ws websockets --no-access-log \
         --timeout-graceful-shutdown "${GRACEFUL_SHUTDOWN_SECONDS:-20}" "$@"
    ;;
  worker)
    exec python -m streams worker "$@"
    ;;
  migrate)
    exec python -m infra.migrate "$@"
    ;;
  wait-migrated)
    exec python "$(dirname "$0")/wait_migrated.py" "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
