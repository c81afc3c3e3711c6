#!/bin/sh
# The image's entrypoint: `api`, `worker`, `migrate`, `wait-migrated`, `every`, or any command.
# Each branch but `every` execs, so the process itself receives SIGTERM from tini (PID 1).
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
    # --no-proxy-headers: the app believes X-Forwarded-For only from TRUSTED_PROXIES.
    # --ws-per-message-deflate false: a negotiated permessage-deflate (browsers and most clients
    # offer it) costs each socket a zlib compressor and decompressor, ~150 KiB of RSS even idle,
    # and a compression per push per socket; pushes are small JSON (docs/realtime.md).
    exec uvicorn api.asgi:app --host 0.0.0.0 --port "${PORT:-3000}" \
         --loop uvloop --ws websockets --ws-per-message-deflate false --no-access-log --no-proxy-headers \
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
  every)
    # every SECONDS COMMAND...: sleep SECONDS, run COMMAND, repeat; a failed run is logged and
    # retried next time. Compose has no cron (Kubernetes uses CronJobs). The command and the
    # sleep run in the background so SIGTERM is handled at once: the running command gets it
    # too and is waited for.
    interval="${1:-}"
    [ "$#" -gt 0 ] && shift
    case "$interval" in
      ''|*[!0-9.]*) echo "usage: every SECONDS COMMAND..." >&2; exit 2 ;;
    esac
    [ "$#" -gt 0 ] || { echo "usage: every SECONDS COMMAND..." >&2; exit 2; }
    child=""
    trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" || :; fi; exit 0' TERM INT
    while :; do
      sleep "$interval" & child=$!
      wait "$child" || :            # interrupted by SIGTERM: the trap runs next
      "$@" & child=$!
      status=0
      wait "$child" || status=$?
      child=""
      [ "$status" -eq 0 ] || echo "every: '$*' exited with status $status" >&2
    done
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
