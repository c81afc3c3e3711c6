"""What a data export holds (PDPL art. 2: the right to obtain one's data): one section per kind of
record, each a query for the rows about one user. Adding a store to the export = one function
in SECTIONS (docs/privacy.md lists them).

Rows are dumped column by column, minus secrets that are not the user's data but our means of
checking it (password hashes, token hashes) and other users' private fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.accounts.consents import Consent
from models.accounts.profiles import Profile
from models.accounts.sessions import AuthSession
from models.accounts.users import User
from models.content.comments import Comment
from models.content.posts import Post
from models.messaging.messages import Message
from models.moderation.decisions import Appeal, Decision
from models.moderation.sanctions import AccountSanction
from models.social.circles import Circle, CircleMember
from models.wallet.tables import Account, Entry, Transaction

if TYPE_CHECKING:
    from infra.services import Services

# Never exported: they prove a secret, they are not data about the person.
SECRET_COLUMNS = {"password_hash", "token_hash", "request_hash", "idempotency_key"}


def _value(v: Any) -> Any:
    if isinstance(v, UUID | datetime):
        return str(v) if isinstance(v, UUID) else v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, list):
        return [_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    return v


def dump(obj: Any) -> dict:
    """A mapped row's columns (by attribute name), secrets left out, JSON-ready."""
    return {c.key: _value(getattr(obj, c.key)) for c in obj.__mapper__.column_attrs if c.key not in SECRET_COLUMNS}


Section = Callable[[AsyncSession, "Services", UUID], Awaitable[list[dict]]]


async def _profile(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    user = await s.get(User, user_id)
    profile = await s.get(Profile, user_id)
    return [{"account": dump(user) if user else None, "profile": dump(profile) if profile else None}]


async def _all(s: AsyncSession, stmt) -> list[dict]:
    return [dump(r) for r in (await s.scalars(stmt)).all()]


async def _posts(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    return await _all(s, select(Post).where(Post.author_id == user_id).order_by(Post.id))


async def _comments(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    return await _all(s, select(Comment).where(Comment.author_id == user_id).order_by(Comment.id))


async def _messages(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    """Messages the user sent; those others sent them are the senders' data."""
    return await _all(s, select(Message).where(Message.sender_id == user_id).order_by(Message.id))


async def _follows(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    out: list[dict] = []
    for direction in ("following", "followers"):
        after = None
        while True:
            page = await getattr(svc.store, f"list_{direction}")(user_id, after=after, limit=500)
            out += [
                {"direction": direction, "user_id": str(link.user_id), "since": _value(link.since)} for link in page
            ]
            if len(page) < 500:
                break
            after = page[-1]
    return out


async def _reactions(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    return [{"post_id": str(p), "type": kind} for p, kind in await svc.store.reactions_by_user(user_id)]


async def _circles(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    owned = await _all(s, select(Circle).where(Circle.owner_id == user_id).order_by(Circle.id))
    member = await _all(s, select(CircleMember).where(CircleMember.user_id == user_id))
    return [{"owned": owned, "member_of": member}]


async def _wallet(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    """Every ledger movement on the user's accounts: the transaction and this account's amount."""
    rows = (
        await s.execute(
            select(Transaction, Entry.amount, Entry.currency)
            .join(Entry, Entry.transaction_id == Transaction.id)
            .join(Account, Account.id == Entry.account_id)
            .where(Account.user_id == user_id)
            .order_by(Transaction.id)
        )
    ).all()
    return [{**dump(t), "amount": amount, "currency": currency} for t, amount, currency in rows]


async def _sessions(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    return await _all(s, select(AuthSession).where(AuthSession.user_id == user_id).order_by(AuthSession.id))


async def _consents(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    return await _all(s, select(Consent).where(Consent.user_id == user_id).order_by(Consent.id))


async def _moderation(s: AsyncSession, svc: Services, user_id: UUID) -> list[dict]:
    """Decisions about the user (content and account), with the user's appeals and sanctions."""
    decisions = await _all(s, select(Decision).where(Decision.user_id == user_id).order_by(Decision.id))
    appeals = await _all(s, select(Appeal).where(Appeal.user_id == user_id).order_by(Appeal.id))
    sanctions = await _all(
        s, select(AccountSanction).where(AccountSanction.user_id == user_id).order_by(AccountSanction.id)
    )
    return [{"decisions": decisions, "appeals": appeals, "sanctions": sanctions}]


SECTIONS: dict[str, Section] = {
    "profile": _profile,
    "posts": _posts,
    "comments": _comments,
    "messages_sent": _messages,
    "reactions": _reactions,
    "follows": _follows,
    "circles": _circles,
    "wallet_transactions": _wallet,
    "sessions": _sessions,
    "consents": _consents,
    "moderation": _moderation,
}
