"""Delete quarantined media whose appeal window closed or whose appeal failed
(models/moderation/quarantine.purge_due). Run it periodically (cron, a Kubernetes CronJob):
`python -m jobs.purge_quarantine`. Idempotent; a decision overturned meanwhile keeps its media.
"""

from __future__ import annotations

import sys

from infra.services import Services
from infra.settings import get_settings
from jobs.environment import run_job
from models.moderation import quarantine


async def purge() -> int:
    svc = await Services.start(get_settings(), relay=False)
    try:
        total = 0
        while n := await quarantine.purge_due(svc):
            total += n
        return total
    finally:
        await svc.stop()


def main() -> int:
    return run_job("purge_quarantine", lambda _: purge(), lambda n: f"{n} quarantined media purged")


if __name__ == "__main__":
    sys.exit(main())
