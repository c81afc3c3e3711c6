"""Wait until the database schema is at this image's Alembic head, then exit 0.

`python infra/deploy/wait_migrated.py [--timeout SECONDS]` (the image's `wait-migrated` command).
Kubernetes runs it as an initContainer of the API and worker pods so they never serve against a
schema older than their code while the migrate Job is still running. It only reads
alembic_version; it never migrates (that is `python -m infra.migrate`, run once by the Job).

A database *ahead* of this image (a revision this image does not know, i.e. a newer release
already migrated) counts as ready: old pods must still be able to restart during a rollout,
which assumes migrations stay backward compatible (expand, deploy, then contract).
Exit 1 if the timeout passes first (the initContainer then restarts and waits again).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.ext.asyncio import create_async_engine

from infra.migrate import alembic_config
from infra.settings import get_settings


async def current_revisions(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync_conn: MigrationContext.configure(sync_conn).get_current_heads()))
    finally:
        await engine.dispose()


def state(script: ScriptDirectory, heads: set[str], current: set[str]) -> str:
    """'ready', 'ahead' (the database has a revision this image lacks) or 'behind'."""
    if current == heads:
        return "ready"
    for rev in current:
        try:
            if script.get_revision(rev) is None:
                return "ahead"
        except CommandError:  # unknown revision id
            return "ahead"
    return "behind"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between checks")
    args = parser.parse_args()

    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    url = get_settings().sqlalchemy_url
    deadline = time.monotonic() + args.timeout
    last = None
    while True:
        try:
            current = asyncio.run(current_revisions(url))
            verdict = state(script, heads, current)
            message = f"database at {sorted(current) or 'no revision'}, image head {sorted(heads)}"
        except Exception as exc:  # database not reachable yet: keep waiting
            verdict, message = "unreachable", f"database not reachable: {exc!r}"[:300]
        if verdict in ("ready", "ahead"):
            print(f"wait-migrated: {verdict}: {message}", flush=True)
            return 0
        if message != last:
            print(f"wait-migrated: waiting ({verdict}): {message}", flush=True)
            last = message
        if time.monotonic() >= deadline:
            print(f"wait-migrated: gave up after {args.timeout:g}s", file=sys.stderr, flush=True)
            return 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
