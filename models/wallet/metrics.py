"""Creator metrics: earnings by day and source (tips, subscriptions), counts, new subscribers.

Written by the creator-metrics agent from `wallet.movement` events. Each earning is one row keyed
by its ledger transaction id; the daily rollup grows only by the rows actually inserted, in the
same statement, so a redelivered or duplicated event changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import select, text

from models.core.base import utcnow
from models.core.events import Received
from models.core.topics import WalletMovementPayload
from models.wallet import access, ledger
from models.wallet.subscriptions import active_subscribers
from models.wallet.tables import CreatorMetricsDaily

if TYPE_CHECKING:
    from infra.services import Services

SOURCES = {"tip": "to_user_id", "subscription": "creator_id"}  # kind -> metadata field naming the creator

_APPLY = text("""
WITH facts AS (
    SELECT * FROM unnest(CAST(:tx AS uuid[]), CAST(:creator AS uuid[]), CAST(:day AS date[]),
                         CAST(:source AS text[]), CAST(:amount AS bigint[]), CAST(:new_sub AS boolean[]))
           AS f(transaction_id, creator_id, day, source, amount, new_subscriber)
), ins AS (
    INSERT INTO creator_earnings (transaction_id, creator_id, day, source, amount, new_subscriber)
    SELECT * FROM facts ON CONFLICT (transaction_id) DO NOTHING
    RETURNING creator_id, day, source, amount, new_subscriber
)
INSERT INTO creator_metrics_daily AS d (creator_id, day, source, earnings, count, new_subscribers)
SELECT creator_id, day, source, sum(amount), count(*), count(*) FILTER (WHERE new_subscriber)
  FROM ins GROUP BY creator_id, day, source
ON CONFLICT (creator_id, day, source) DO UPDATE
   SET earnings = d.earnings + excluded.earnings, count = d.count + excluded.count,
       new_subscribers = d.new_subscribers + excluded.new_subscribers
""")


def fact(event: Received[WalletMovementPayload]) -> tuple | None:
    """(transaction id, creator, day, source, creator's share, new subscriber) of a movement
    that earns a creator something; None for every other movement."""
    p = event.payload
    field = SOURCES.get(p.kind)
    if field is None:
        return None
    meta = p.metadata  # a free-form dict per kind (models/core/topics.py)
    return (
        p.transaction_id,
        UUID(meta[field]),
        p.created_at.date(),
        p.kind,
        int(meta["creator_amount"]),
        bool(meta.get("first", False)),
    )


async def apply(svc: Services, events: list[Received[WalletMovementPayload]]) -> int:
    facts = {f[0]: f for f in map(fact, events) if f is not None}  # duplicates within a batch
    if not facts:
        return 0
    cols = list(zip(*facts.values()))
    async with svc.sessions() as s, s.begin():
        await s.execute(
            _APPLY,
            {
                "tx": list(cols[0]),
                "creator": list(cols[1]),
                "day": list(cols[2]),
                "source": list(cols[3]),
                "amount": list(cols[4]),
                "new_sub": list(cols[5]),
            },
        )
    return len(facts)


# What creator_metrics sums, per day and in total (in this order).
FIGURES = ("earnings", "tips", "tip_earnings", "subscription_payments", "subscription_earnings", "new_subscribers")


async def creator_metrics(svc: Services, *, viewer_id: UUID, creator_id: UUID, days: int = 30) -> dict:
    """The creator's last `days` days (UTC), newest first, totals, and subscribers with access now."""
    await access.ensure_owner_or_admin(svc, viewer_id, creator_id)
    since: date = (utcnow() - timedelta(days=days - 1)).date()
    async with svc.sessions() as s:
        rows = (
            (
                await s.execute(
                    select(CreatorMetricsDaily)
                    .where(CreatorMetricsDaily.creator_id == creator_id, CreatorMetricsDaily.day >= since)
                    .order_by(CreatorMetricsDaily.day.desc(), CreatorMetricsDaily.source)
                )
            )
            .scalars()
            .all()
        )
    by_day: dict[date, dict] = {}
    totals = dict.fromkeys(FIGURES, 0)
    for r in rows:
        d = by_day.setdefault(r.day, {"day": r.day.isoformat(), **dict.fromkeys(FIGURES, 0)})
        if r.source == "tip":
            parts = {"tips": r.count, "tip_earnings": r.earnings}
        else:
            parts = {
                "subscription_payments": r.count,
                "subscription_earnings": r.earnings,
                "new_subscribers": r.new_subscribers,
            }
        for k, v in {"earnings": r.earnings, **parts}.items():
            d[k] += v
            totals[k] += v
    return {
        "creator_id": str(creator_id),
        "currency": ledger.currency(svc),
        "days": list(by_day.values()),
        "totals": totals,
        "active_subscribers": await active_subscribers(svc, creator_id),
    }
