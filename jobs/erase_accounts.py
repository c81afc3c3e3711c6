"""Start the erasure of accounts whose grace period (ERASURE_GRACE_DAYS) ended: each becomes
`erasing` with an `account.erasure_due` event, which the worker's erasure agent applies
(models/privacy/erasing.py). `make erase-accounts`; the CronJob runs it hourly. Safe to re-run:
an account still `erasing` is sent again and the agent is idempotent."""

from __future__ import annotations

import sys

from infra.services import Services
from infra.settings import Settings
from jobs.environment import run_job
from models.core.errors import Unavailable
from models.privacy import erasure


async def _run(settings: Settings) -> int:
    svc = await Services.start(settings, relay=False)
    try:
        total = 0
        while started := await erasure.start_due(svc):
            total += len(started)
            if len(started) < 100:
                break
        try:  # publish now; if the broker is away, the API processes' relays publish them later
            while await svc.relay.relay_once():
                pass
        except Unavailable:
            pass
        return total
    finally:
        await svc.stop()


def main() -> int:
    return run_job("erase_accounts", _run, lambda n: f"{n} account(s) sent to erasure")


if __name__ == "__main__":
    sys.exit(main())
