"""Make set-aside outbox rows pending again: `make outbox-retry [TOPIC=posts]` /
`python -m jobs.outbox_retry [topic]`.

A row the broker refused OUTBOX_MAX_ATTEMPTS times is set aside (infra/outbox_relay.py). Once
the cause is fixed (a topic created, a broker limit raised), this resets its attempts so the
relay of any running API process or worker tries it again at its next pass.
"""

from __future__ import annotations

import os
import sys

from infra import db
from infra.settings import Settings
from jobs.environment import run_job
from models.core import outbox


async def retry(settings: Settings, topic: str | None) -> int:
    db.init_engine(settings)
    try:
        async with db.sessions()() as session, session.begin():
            return await outbox.retry_set_aside(session, topic)
    finally:
        await db.dispose_engine()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    topic = (args[0] if args else os.environ.get("TOPIC", "")) or None
    where = f" of topic {topic}" if topic else ""
    return run_job(
        "outbox_retry", lambda settings: retry(settings, topic), lambda n: f"{n} set-aside row(s){where} pending again"
    )


if __name__ == "__main__":
    sys.exit(main())
