"""Renew due creator subscriptions: `python -m jobs.renew_subscriptions` (run it every few
minutes, e.g. from cron or a Kubernetes CronJob).

Each due subscription is charged once per period (the charge's ledger reference is unique per
subscription and period start), moved to grace when the wallet cannot pay, lapsed when the grace
ends, ended when it was cancelled. Running it twice, or two at once, charges nothing twice.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

from infra.services import Services
from infra.settings import get_settings
from jobs.environment import run_job
from models.core.base import utcnow
from models.wallet import subscriptions

log = logging.getLogger(__name__)


async def run() -> dict[str, int]:
    svc = await Services.start(get_settings())
    try:
        now = utcnow()
        with tqdm(total=len(await subscriptions.due(svc, now)), unit="sub", desc="renew") as bar:
            counts = await subscriptions.renew_due(svc, now, progress=bar.update)
        try:
            while await svc.relay.relay_once():  # the charges' events leave before the process does
                pass
        except Exception as exc:  # committed: an API process's relay sends what is left
            log.warning("outbox not drained; the API relays it", extra={"error": repr(exc)})
        return counts
    finally:
        await svc.stop()


def main() -> int:
    return run_job("renew_subscriptions", lambda _: run(), str)


if __name__ == "__main__":
    sys.exit(main())
