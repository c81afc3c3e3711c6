"""Creator subscriptions: a plan per creator, subscriptions charged per period from the wallet,
subscriber-only posts.

- Subscribing charges the first period at once (price split like a tip: PLATFORM_FEE_BPS).
- Cancelling keeps access until the period ends; the renewal job then ends it.
- Renewal (jobs/renew_subscriptions.py) charges each due period once: the charge's external
  reference is (subscription, period start), unique in the ledger. A renewal the wallet cannot
  cover puts the subscription in grace (access kept, retried on every run) until
  SUBSCRIPTION_GRACE after the period end, then it lapses.
- A plan's price applies to new subscriptions; existing ones keep the price they took.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from uuid import UUID

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.accounts import users
from models.content import visibility
from models.core import outbox
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, Forbidden, NotFound
from models.core.events import new_id
from models.social import blocks
from models.wallet import access, ledger
from models.wallet.ledger import InsufficientFunds, Posted
from models.wallet.tables import Plan, Subscription, Transaction
from models.wallet.tips import split, split_legs

if TYPE_CHECKING:
    from infra.services import Services

ACTIVE = ("active", "grace")


def plan_public(p: Plan) -> dict:
    return {
        "creator_id": str(p.creator_id),
        "price": p.price,
        "currency": p.currency,
        "period_days": p.period_days,
        "active": p.active,
    }


def public(sub: Subscription, now: datetime | None = None) -> dict:
    return {
        "id": str(sub.id),
        "subscriber_id": str(sub.subscriber_id),
        "creator_id": str(sub.creator_id),
        "price": sub.price,
        "currency": sub.currency,
        "period_days": sub.period_days,
        "status": sub.status,
        "current_period_start": sub.current_period_start.isoformat(),
        "current_period_end": sub.current_period_end.isoformat(),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "grace_until": sub.grace_until.isoformat() if sub.grace_until else None,
        "has_access": has_access(sub, now or utcnow()),
    }


def has_access(sub: Subscription, now: datetime) -> bool:
    """Active (the renewal job decides what happens at the period end), a cancelled one until its
    period ends, one in grace until the grace ends."""
    if sub.status == "active":
        return not sub.cancel_at_period_end or now < sub.current_period_end
    return sub.status == "grace" and sub.grace_until is not None and now < sub.grace_until


async def subscriber_rule(svc: Services, viewer_id: UUID | None, post) -> bool:
    """Visibility rule of "subscribers" posts (models/content/visibility.py): active subscribers of the
    author (the author is let through by can_see itself)."""
    if viewer_id is None:
        return False
    async with svc.sessions() as s:
        sub = (
            await s.execute(
                select(Subscription).where(
                    Subscription.subscriber_id == viewer_id, Subscription.creator_id == post.author_id
                )
            )
        ).scalar_one_or_none()
    return sub is not None and has_access(sub, utcnow())


def register_visibility() -> None:
    """Wallet owns the "subscribers" visibility: its rule joins models/content/visibility.py at
    start-up (infra/services.wire_domains), since content sits below wallet and cannot name it."""
    visibility.register("subscribers", subscriber_rule)


async def set_plan(
    svc: Services, *, actor_id: UUID, creator_id: UUID, price: int, period_days: int, active: bool = True
) -> dict:
    if actor_id != creator_id:
        raise Forbidden("you can only set your own plan", code="not_owner")
    if price <= 0:
        raise DomainError("price must be a positive number of minor units", code="invalid_amount")
    if not 1 <= period_days <= 366:
        raise DomainError("period_days must be between 1 and 366", code="invalid_period")
    now = utcnow()
    values = {
        "price": price,
        "currency": ledger.currency(svc),
        "period_days": period_days,
        "active": active,
        "updated_at": now,
    }
    async with svc.sessions() as s, s.begin():
        stmt = pg_insert(Plan).values(creator_id=creator_id, created_at=now, **values)
        await s.execute(stmt.on_conflict_do_update(index_elements=[Plan.creator_id], set_=values))
        plan = (await s.execute(select(Plan).where(Plan.creator_id == creator_id))).scalar_one()
    return plan_public(plan)


async def get_plan(svc: Services, creator_id: UUID) -> dict:
    async with svc.sessions() as s:
        plan = await s.get(Plan, creator_id)
    if plan is None:
        raise NotFound("this creator has no subscription plan", code="plan_not_found")
    return plan_public(plan)


def _charge_metadata(sub: Subscription, start: datetime, end: datetime, fee_bps: int, first: bool) -> dict:
    share, fee = split(sub.price, fee_bps)
    return {
        "subscription_id": str(sub.id),
        "subscriber_id": str(sub.subscriber_id),
        "creator_id": str(sub.creator_id),
        "amount": sub.price,
        "fee": fee,
        "fee_bps": fee_bps,
        "creator_amount": share,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "first": first,
    }


async def _charge(
    svc: Services, s: AsyncSession, sub: Subscription, start: datetime, *, first: bool, idem=None
) -> Posted:
    """Charge the period starting at `start` inside the caller's transaction."""
    end = start + timedelta(days=sub.period_days)
    fee_bps = svc.settings.platform_fee_bps
    tx = await ledger.begin(
        s,
        kind="subscription",
        cur=sub.currency,
        idem=idem,
        actor_id=sub.subscriber_id,
        external_ref=f"sub:{sub.id.hex}:{start.isoformat()}",
        metadata=_charge_metadata(sub, start, end, fee_bps, first),
    )
    if not tx.replayed:
        await ledger.write(svc, s, tx, split_legs(sub.subscriber_id, sub.creator_id, sub.price, fee_bps))
    return tx


async def subscribe(
    svc: Services, *, subscriber_id: UUID, creator_id: UUID, idempotency_key: str | None = None
) -> dict:
    idem = ledger.require_key(idempotency_key, subscriber_id, "subscribe", {"creator_id": str(creator_id)})
    if subscriber_id == creator_id:
        raise DomainError("you cannot subscribe to yourself", code="cannot_subscribe_self")
    if await users.get_user(svc, creator_id) is None:
        raise NotFound("no such user", code="user_not_found")
    await blocks.ensure_not_blocked(svc, subscriber_id, creator_id)
    now = utcnow()
    async with outbox.transaction(svc) as s:
        plan = await s.get(Plan, creator_id)
        if plan is None or not plan.active:
            raise NotFound("this creator has no subscription plan", code="plan_not_found")
        await s.execute(
            pg_insert(Subscription)
            .values(
                id=new_id(),
                subscriber_id=subscriber_id,
                creator_id=creator_id,
                price=plan.price,
                currency=plan.currency,
                period_days=plan.period_days,
                status="new",
                current_period_start=now,
                current_period_end=now,
                cancel_at_period_end=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        sub = (
            await s.execute(
                select(Subscription)
                .where(Subscription.subscriber_id == subscriber_id, Subscription.creator_id == creator_id)
                .with_for_update()
            )
        ).scalar_one()
        prior = (
            await s.execute(
                select(Transaction.id).where(
                    Transaction.actor_id == subscriber_id, Transaction.idempotency_key == idem.key
                )
            )
        ).first()
        if prior is None and sub.status in ACTIVE:
            if not sub.cancel_at_period_end:
                raise Conflict("you are already subscribed", code="already_subscribed")
            sub.cancel_at_period_end = False  # resubscribing before the period ends: no charge
            return public(sub, now)
        if sub.status not in ACTIVE:  # new, lapsed or canceled: a fresh first period at today's price
            sub.price, sub.currency, sub.period_days = plan.price, plan.currency, plan.period_days
        tx = await _charge(svc, s, sub, now, first=True, idem=idem)
        if not tx.replayed:
            sub.status, sub.cancel_at_period_end, sub.grace_until = "active", False, None
            sub.current_period_start = now
            sub.current_period_end = now + timedelta(days=sub.period_days)
    return public(sub, now)


async def cancel(svc: Services, *, subscriber_id: UUID, creator_id: UUID) -> dict:
    async with svc.sessions() as s, s.begin():
        sub = (
            await s.execute(
                select(Subscription)
                .where(
                    Subscription.subscriber_id == subscriber_id,
                    Subscription.creator_id == creator_id,
                    Subscription.status.in_(ACTIVE),
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if sub is None:
            raise NotFound("you have no active subscription to this creator", code="subscription_not_found")
        sub.cancel_at_period_end = True
    return public(sub)


async def list_subscriptions(svc: Services, *, viewer_id: UUID, subscriber_id: UUID) -> list[dict]:
    await access.ensure_owner_or_admin(svc, viewer_id, subscriber_id)
    async with svc.sessions() as s:
        subs = (
            (
                await s.execute(
                    select(Subscription)
                    .where(Subscription.subscriber_id == subscriber_id, Subscription.status != "new")
                    .order_by(Subscription.created_at.desc())
                )
            )
            .scalars()
            .all()
        )
    now = utcnow()
    return [public(sub, now) for sub in subs]


async def active_subscribers(svc: Services, creator_id: UUID) -> int:
    """Subscribers with access now (the same rule as has_access, in SQL)."""
    now = utcnow()
    with_access = or_(
        and_(
            Subscription.status == "active",
            or_(~Subscription.cancel_at_period_end, Subscription.current_period_end > now),
        ),
        and_(Subscription.status == "grace", Subscription.grace_until > now),
    )
    async with svc.sessions() as s:
        return (
            await s.execute(select(func.count()).where(Subscription.creator_id == creator_id, with_access))
        ).scalar_one()


# --- renewal ---------------------------------------------------------------------------------


async def due(svc: Services, now: datetime, limit: int = 10_000) -> list[UUID]:
    async with svc.sessions() as s:
        return list(
            (
                await s.execute(
                    select(Subscription.id)
                    .where(Subscription.status.in_(ACTIVE), Subscription.current_period_end <= now)
                    .order_by(Subscription.current_period_end)
                    .limit(limit)
                )
            ).scalars()
        )


async def renew_one(svc: Services, sub_id: UUID, now: datetime) -> str:
    """Process one due subscription in its own transaction: "renewed", "grace", "lapsed",
    "ended" (cancelled) or "skipped" (not due any more, or another job run holds it)."""
    async with outbox.transaction(svc) as s:
        sub = (
            await s.execute(select(Subscription).where(Subscription.id == sub_id).with_for_update(skip_locked=True))
        ).scalar_one_or_none()
        if sub is None or sub.status not in ACTIVE or sub.current_period_end > now:
            return "skipped"
        if sub.cancel_at_period_end:
            sub.status = "canceled"
            return "ended"
        start = sub.current_period_end
        try:
            async with s.begin_nested():
                await _charge(svc, s, sub, start, first=False)
        except InsufficientFunds:
            if sub.status == "active":
                sub.status, sub.grace_until = "grace", start + svc.settings.subscription_grace
            if now >= cast(datetime, sub.grace_until):  # set on entering grace
                sub.status = "lapsed"
                return "lapsed"
            return "grace"
        sub.status, sub.grace_until = "active", None
        sub.current_period_start, sub.current_period_end = start, start + timedelta(days=sub.period_days)
    return "renewed"


async def renew_due(svc: Services, now: datetime | None = None, progress=None) -> dict[str, int]:
    """Run the renewal over every due subscription (repeatable: a second run the same instant
    changes nothing). A subscription several periods behind renews one period per run."""
    now = now or utcnow()
    counts = {"renewed": 0, "grace": 0, "lapsed": 0, "ended": 0, "skipped": 0}
    for sub_id in await due(svc, now):
        counts[await renew_one(svc, sub_id, now)] += 1
        if progress:
            progress()
    return counts
