"""Settle top-ups and cashouts left pending by asking the providers: `make reconcile-payments` /
`python -m jobs.reconcile_payments [--older-than 10m]` (models/wallet/reconcile.py)."""

from __future__ import annotations

import argparse
import logging
import sys

from infra.services import Services
from infra.settings import Settings, parse_duration
from jobs.environment import run_job
from models.wallet.reconcile import reconcile_payments

log = logging.getLogger(__name__)


async def reconcile(settings: Settings, older_than: str) -> dict:
    svc = await Services.start(settings)
    try:
        result = await reconcile_payments(svc, older_than=parse_duration(older_than))
        try:
            while await svc.relay.relay_once():  # the settlements' events leave before the process does
                pass
        except Exception as exc:  # committed: an API process's relay sends what is left
            log.warning("outbox not drained; the API relays it", extra={"error": repr(exc)})
        return result
    finally:
        await svc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--older-than", default="10m", help="only what has been pending this long (default 10m)")
    args = parser.parse_args(argv)
    return run_job(
        "reconcile-payments",
        lambda settings: reconcile(settings, args.older_than),
        lambda r: (
            f"{r['topups_settled']} top-up(s) and {r['cashouts_settled']} cashout(s) settled, "
            f"{r['still_pending']} still pending, {r['errors']} error(s)"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
