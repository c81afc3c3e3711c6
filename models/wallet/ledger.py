"""The double-entry ledger: the one place that writes money.

Every movement is one PostgreSQL transaction holding one `wallet_transactions` row and its
entries, which sum to zero per currency (a deferred constraint trigger refuses the commit
otherwise, whoever writes). User wallets keep a `balance` column updated in the same
transaction, under a row lock taken in account-id order (no deadlocks), and never negative
(checked here, and by a CHECK constraint). System accounts (platform fee, pending cashouts,
provider clearing, adjustments) are not locked and have no materialized balance: they would
serialize every tip on the platform; their balance is the sum of their entries.

Idempotency: a movement carrying (actor, Idempotency-Key) or an external reference (a provider
callback, a renewal period) is inserted with ON CONFLICT DO NOTHING on unique indexes, so of two
concurrent attempts exactly one moves money; the other waits for its commit and answers the
same transaction (same request hash) or 422 (another body).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from sqlalchemy import case, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from models.core import outbox
from models.core.base import utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import Event, new_id
from models.core.idempotency import IdempotencyKeyReused, body_hash
from models.wallet.tables import Account, Entry, Transaction

if TYPE_CHECKING:
    from infra.services import Services

USER = "user"
# System accounts, one per currency.
PLATFORM_FEE, CASHOUT_PENDING, ADJUSTMENTS = "platform_fee", "cashout_pending", "adjustments"
CLEARING = {"fawry": "clearing_fawry", "vodafone_cash": "clearing_vodafone_cash"}
SYSTEM = (PLATFORM_FEE, CASHOUT_PENDING, ADJUSTMENTS, *CLEARING.values())


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


@dataclass(frozen=True)
class Leg:
    """One side of a movement: a user's wallet (user_id) or a system account (system)."""

    amount: int
    user_id: UUID | None = None
    system: str | None = None

    @property
    def account(self) -> str:
        return USER if self.user_id is not None else cast(str, self.system)  # one of the two is set


@dataclass(frozen=True)
class Idempotency:
    actor_id: UUID
    key: str
    request_hash: str


@dataclass
class Posted:
    """A committed (or replayed) ledger transaction, as every face shows it."""

    id: UUID
    kind: str
    currency: str
    actor_id: UUID | None
    created_at: datetime
    metadata: dict[str, Any]
    legs: list[Leg] = field(default_factory=list)
    replayed: bool = False

    def public(self) -> dict:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "currency": self.currency,
            "created_at": self.created_at.isoformat(),
            "metadata": self.metadata,
            "entries": [
                {"account": leg.account, "user_id": str(leg.user_id) if leg.user_id else None, "amount": leg.amount}
                for leg in self.legs
            ],
        }


def require_key(key: str | None, actor_id: UUID, scope: str, body: dict) -> Idempotency:
    """Every money-moving request carries an Idempotency-Key; its hash binds it to one body."""
    if not key:
        raise DomainError("this request moves money: send an Idempotency-Key header", code="idempotency_key_required")
    if len(key) > 255:
        raise DomainError("Idempotency-Key is longer than 255 characters", code="bad_idempotency_key")
    return Idempotency(actor_id, key, body_hash({"scope": scope, **body}))


def currency(svc: Services) -> str:
    return svc.settings.wallet_currency


# --- system accounts -------------------------------------------------------------------------

_system_ids: dict[tuple[str, str, str], UUID] = {}


async def system_account(svc: Services, kind: str, cur: str) -> UUID:
    """The id of a system account, created on first use (cached per database)."""
    cache_key = (svc.settings.database_url, kind, cur)
    if cache_key in _system_ids:
        return _system_ids[cache_key]
    async with svc.sessions() as s, s.begin():
        await s.execute(
            pg_insert(Account)
            .values(id=new_id(), kind=kind, user_id=None, currency=cur, balance=None, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        account_id = (
            await s.execute(
                select(Account.id).where(Account.kind == kind, Account.currency == cur, Account.user_id.is_(None))
            )
        ).scalar_one()
    _system_ids[cache_key] = account_id
    return account_id


# --- writing ---------------------------------------------------------------------------------


async def begin(
    s: AsyncSession,
    *,
    kind: str,
    cur: str,
    metadata: dict,
    actor_id: UUID | None = None,
    idem: Idempotency | None = None,
    external_ref: str | None = None,
) -> Posted:
    """Insert the transaction row. If its key or external reference was already used, the
    existing transaction comes back with `replayed=True` (after waiting for a concurrent first
    attempt to commit); another body under the same key is a 422."""
    tx = Posted(
        id=new_id(),
        kind=kind,
        currency=cur,
        actor_id=idem.actor_id if idem else actor_id,
        created_at=utcnow(),
        metadata=metadata,
    )
    inserted = (
        await s.execute(
            pg_insert(Transaction)
            .values(
                id=tx.id,
                kind=kind,
                currency=cur,
                actor_id=tx.actor_id,
                idempotency_key=idem.key if idem else None,
                request_hash=idem.request_hash if idem else None,
                external_ref=external_ref,
                meta=metadata,
                created_at=tx.created_at,
            )
            .on_conflict_do_nothing()
            .returning(Transaction.id)
        )
    ).first()
    if inserted:
        return tx
    where = (
        (Transaction.actor_id == idem.actor_id) & (Transaction.idempotency_key == idem.key)
        if idem
        else Transaction.external_ref == external_ref
    )
    prior = (await s.execute(select(Transaction).where(where))).scalar_one_or_none()
    if prior is None:  # the key is new but the external reference was already settled
        raise Conflict("this movement was already recorded", code="duplicate_movement")
    if idem and prior.request_hash != idem.request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
    return await load(s, prior)


async def lock_wallets(s: AsyncSession, user_ids: list[UUID], cur: str) -> dict[UUID, Account]:
    """Lock the users' wallets in account-id order (created if missing) and return them by user."""
    users = sorted(set(user_ids))
    stmt = (
        select(Account)
        .where(Account.user_id.in_(users), Account.currency == cur)
        .order_by(Account.id)
        .with_for_update()
    )
    # user accounts: user_id is set
    found = {cast(UUID, a.user_id): a for a in (await s.execute(stmt)).scalars()}
    missing = [u for u in users if u not in found]
    if missing:
        await s.execute(
            pg_insert(Account)
            .values(
                [
                    {"id": new_id(), "kind": USER, "user_id": u, "currency": cur, "balance": 0, "created_at": utcnow()}
                    for u in missing
                ]
            )
            .on_conflict_do_nothing()
        )
        found = {
            cast(UUID, a.user_id): a
            for a in (await s.execute(stmt.execution_options(populate_existing=True))).scalars()
        }
    return found


async def write(
    svc: Services, s: AsyncSession, tx: Posted, legs: list[Leg], wallets: dict[UUID, Account] | None = None
) -> Posted:
    """Apply `legs` to the transaction begun with `begin`: lock the user wallets (unless the
    caller already holds them), refuse a negative balance, update balances, insert the entries
    and stage the outbox event."""
    if sum(leg.amount for leg in legs) != 0 or any(leg.amount == 0 for leg in legs):
        raise ValueError(f"unbalanced or empty legs: {legs}")  # a programming error, never input
    user_legs = [leg for leg in legs if leg.user_id is not None]
    if wallets is None:
        wallets = (
            await lock_wallets(s, [cast(UUID, leg.user_id) for leg in user_legs], tx.currency) if user_legs else {}
        )
    deltas: dict[UUID, int] = {}
    for leg in user_legs:
        acc = wallets[cast(UUID, leg.user_id)]
        deltas[acc.id] = deltas.get(acc.id, 0) + leg.amount
    for acc in wallets.values():
        if acc.id in deltas and cast(int, acc.balance) + deltas[acc.id] < 0:  # a user account's balance is set
            raise InsufficientFunds("the wallet balance does not cover this amount")
    if deltas:
        await s.execute(
            update(Account)
            .where(Account.id.in_(list(deltas)))
            .values(balance=Account.balance + case(deltas, value=Account.id))
            .execution_options(synchronize_session=False)
        )
    rows = []
    for leg in legs:
        account_id = (
            wallets[leg.user_id].id
            if leg.user_id is not None
            else await system_account(svc, cast(str, leg.system), tx.currency)
        )
        rows.append({"transaction_id": tx.id, "account_id": account_id, "currency": tx.currency, "amount": leg.amount})
    await s.execute(insert(Entry), rows)
    tx.legs = legs
    outbox.stage(s, Event("wallet.movement", movement_payload(tx), actor=tx.actor_id, id=tx.id))
    return tx


class _WalletQueues:
    """In-process queues per wallet, taken before a database connection: requests waiting for a
    busy wallet (one user firing many tips, a creator tipped by many) wait here holding nothing,
    instead of each holding a pooled connection while blocked on the row lock, which would starve
    every other request of connections. The row lock stays the guard across processes."""

    def __init__(self) -> None:
        self._locks: dict[UUID, list] = {}  # user id -> [lock, holders + waiters]

    @contextlib.asynccontextmanager
    async def hold(self, user_ids: list[UUID]):
        async with contextlib.AsyncExitStack() as stack:
            for uid in sorted(set(user_ids)):  # one order everywhere: no deadlock between queues
                entry = self._locks.setdefault(uid, [asyncio.Lock(), 0])
                entry[1] += 1
                stack.callback(self._release, uid)
                await stack.enter_async_context(entry[0])
            yield

    def _release(self, uid: UUID) -> None:
        entry = self._locks[uid]
        entry[1] -= 1
        if entry[1] == 0:
            del self._locks[uid]


_queues = _WalletQueues()


async def post(
    svc: Services,
    *,
    kind: str,
    legs: list[Leg],
    metadata: dict,
    actor_id: UUID | None = None,
    idem: Idempotency | None = None,
    external_ref: str | None = None,
    stage: Callable[[AsyncSession, Posted], None] | None = None,
) -> Posted:
    """One movement in its own database transaction (begin + write + commit + relay kick);
    `stage` adds rows of its own (an audit record) to that transaction, unless it is a replay."""
    async with _queues.hold([leg.user_id for leg in legs if leg.user_id is not None]):
        async with outbox.transaction(svc) as s:
            tx = await begin(
                s,
                kind=kind,
                cur=currency(svc),
                metadata=metadata,
                actor_id=actor_id,
                idem=idem,
                external_ref=external_ref,
            )
            if not tx.replayed:
                await write(svc, s, tx, legs)
                if stage is not None:
                    stage(s, tx)
    return tx


def movement_payload(tx: Posted) -> dict:
    return {
        "transaction_id": str(tx.id),
        "kind": tx.kind,
        "currency": tx.currency,
        "actor_id": str(tx.actor_id) if tx.actor_id else None,
        "created_at": tx.created_at.isoformat(),
        "legs": [
            {"account": leg.account, "user_id": str(leg.user_id) if leg.user_id else None, "amount": leg.amount}
            for leg in tx.legs
        ],
        "metadata": tx.metadata,
    }


# --- reading ---------------------------------------------------------------------------------


async def load(s: AsyncSession, row: Transaction) -> Posted:
    legs = [
        Leg(amount=amount, user_id=user_id, system=None if kind == USER else kind)
        for amount, user_id, kind in (
            await s.execute(
                select(Entry.amount, Account.user_id, Account.kind)
                .join(Account, Account.id == Entry.account_id)
                .where(Entry.transaction_id == row.id)
                .order_by(Entry.id)
            )
        ).all()
    ]
    return Posted(
        id=row.id,
        kind=row.kind,
        currency=row.currency,
        actor_id=row.actor_id,
        created_at=row.created_at,
        metadata=row.meta,
        legs=legs,
        replayed=True,
    )


async def get_transaction(svc: Services, tx_id: UUID) -> Posted:
    async with svc.sessions() as s:
        row = await s.get(Transaction, tx_id)
        if row is None:
            raise NotFound("no such transaction", code="transaction_not_found")
        return await load(s, row)


async def balance(svc: Services, user_id: UUID) -> int:
    async with svc.sessions() as s:
        value = (
            await s.execute(
                select(Account.balance).where(Account.user_id == user_id, Account.currency == currency(svc))
            )
        ).scalar_one_or_none()
    return value or 0


async def history(svc: Services, user_id: UUID, *, cursor: str | None = None, limit: int = 50) -> dict:
    """The wallet's entries, newest first, keyset-paginated by entry id. Entries of one wallet
    are inserted under its row lock, so their ids follow commit order: a page never skips one."""
    after = None
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise DomainError("cursor is not valid", code="invalid_cursor") from None
    stmt = (
        select(Entry.id, Entry.amount, Transaction)
        .join(Account, Account.id == Entry.account_id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .where(Account.user_id == user_id, Account.currency == currency(svc))
        .order_by(Entry.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        stmt = stmt.where(Entry.id < after)
    async with svc.sessions() as s:
        rows = (await s.execute(stmt)).all()
    items = [
        {
            "transaction_id": str(tx.id),
            "kind": tx.kind,
            "amount": amount,
            "currency": tx.currency,
            "created_at": tx.created_at.isoformat(),
            "metadata": tx.meta,
        }
        for _, amount, tx in rows[:limit]
    ]
    return {"items": items, "next_cursor": str(rows[limit - 1][0]) if len(rows) > limit else None}


async def reconcile(svc: Services) -> dict:
    """Verify the ledger: every transaction sums to zero, the whole ledger sums to zero per
    currency, every user balance equals the sum of its entries and none is negative."""
    async with svc.sessions() as s:
        unbalanced = (
            (
                await s.execute(
                    text(
                        "SELECT transaction_id FROM wallet_entries GROUP BY transaction_id, currency "
                        "HAVING sum(amount) <> 0 LIMIT 100"
                    )
                )
            )
            .scalars()
            .all()
        )
        totals: dict[str, int] = dict(
            (await s.execute(text("SELECT currency, sum(amount) FROM wallet_entries GROUP BY currency"))).all()
        )
        mismatched = (
            (
                await s.execute(
                    text(
                        "SELECT a.user_id FROM wallet_accounts a LEFT JOIN wallet_entries e ON e.account_id = a.id "
                        "WHERE a.kind = 'user' GROUP BY a.id HAVING a.balance <> coalesce(sum(e.amount), 0) "
                        "LIMIT 100"
                    )
                )
            )
            .scalars()
            .all()
        )
        negative = (await s.execute(select(func.count()).where(Account.balance < 0))).scalar_one()
        counts = (
            await s.execute(
                text("SELECT (SELECT count(*) FROM wallet_transactions), (SELECT count(*) FROM wallet_entries)")
            )
        ).one()
    return {
        "ok": not unbalanced and not mismatched and not negative and all(v == 0 for v in totals.values()),
        "transactions": counts[0],
        "entries": counts[1],
        "sum_by_currency": {k: int(v) for k, v in totals.items()},
        "unbalanced_transactions": [str(t) for t in unbalanced],
        "balance_mismatches": [str(u) for u in mismatched],
        "negative_balances": negative,
    }
