"""Retention (PDPL): delete what has outlived its documented period (docs/privacy.md).

- audit log rows older than AUDIT_RETENTION (365 d);
- notification dedupe rows (event → notification) older than NOTIFICATION_DEDUPE_RETENTION (30 d);
- sessions ended (revoked or expired) more than SESSION_RETENTION (30 d) ago, with their refresh
  tokens; spent refresh tokens that expired more than SESSION_RETENTION ago;
- OTP state in Redis that lost its expiry (everything else there expires by itself);
- data export archives whose download link expired (EXPORT_LINK_TTL, 2 d).

Each store is pruned in batches of short transactions, so the job never holds long locks and is
safe to re-run or to stop halfway. `make retention`; the CronJob runs it daily.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

from infra.services import Services
from infra.settings import Settings
from jobs.environment import run_job
from models.accounts import phone_verification, sessions
from models.core import audit
from models.core.base import utcnow
from models.messaging import notifications
from models.privacy import exports


async def _drain(svc: Services, step: Callable[..., Awaitable[int]]) -> int:
    total = 0
    while True:
        async with svc.sessions() as s, s.begin():
            n = await step(s)
        total += n
        if not n:
            return total


async def _drain_plain(step: Callable[[], Awaitable[int]]) -> int:
    total = 0
    while n := await step():
        total += n
    return total


async def prune(svc: Services) -> dict[str, int]:
    cfg, now = svc.settings, utcnow()
    out = {
        "audit_log": await _drain(svc, lambda s: audit.prune(s, now - cfg.audit_retention)),
        "notification_events": await _drain(
            svc, lambda s: notifications.prune_dedupe(s, now - cfg.notification_dedupe_retention)
        ),
    }
    counts = {"auth_sessions": 0, "refresh_tokens": 0}

    async def _sessions(s) -> int:
        a, b = await sessions.prune(s, now - cfg.session_retention)
        counts["auth_sessions"] += a
        counts["refresh_tokens"] += b
        return a + b

    await _drain(svc, _sessions)
    out.update(counts)
    out["otp_keys"] = await phone_verification.prune_orphans(svc)
    out["export_archives"] = await _drain_plain(lambda: exports.prune_expired(svc, now))
    return out


async def _run(settings: Settings) -> dict[str, int]:
    svc = await Services.start(settings, relay=False)
    try:
        return await prune(svc)
    finally:
        await svc.stop()


def main() -> int:
    return run_job("retention", _run, lambda d: ", ".join(f"{k}: {v} deleted" for k, v in d.items()))


if __name__ == "__main__":
    sys.exit(main())
