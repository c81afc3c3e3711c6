"""What erasure does to each store (docs/privacy.md "Erasure"): the written rule, and the code
that applies it for one account. Run by the erasure agent (streams/agents/erasure.py) when the
grace period ends; every step is idempotent, so a crash halfway is finished by the redelivery.

`RULES` names every PostgreSQL table (a test fails when a table has none: a new table must say
what happens to a leaving user's rows) and the stores outside PostgreSQL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from sqlalchemy import delete, select, text, update

from infra import vectors
from infra.storage import storage_for
from models.accounts.users import User
from models.content import comments, deleting
from models.content.posts import Post
from models.core.events import Event
from models.core.topics import FOLLOWS, REACTIONS
from models.media import images, videos
from models.media.images import Image
from models.privacy import erasure

if TYPE_CHECKING:
    from infra.services import Services

log = logging.getLogger(__name__)

Action = Literal["delete", "anonymise", "keep", "expire", "none"]


@dataclass(frozen=True)
class Rule:
    action: Action
    how: str  # what happens to the user's rows, and why when they stay


# Tables whose rows about the user are deleted with a plain `DELETE ... WHERE <column> = user`,
# after the steps that must run first (posts, comments, edges through events).
_DELETE_WHERE: dict[str, tuple[str, ...]] = {
    "profiles": ("user_id",),
    "passkey_credentials": ("user_id",),
    "refresh_tokens": ("user_id",),
    "auth_sessions": ("user_id",),
    "user_badges": ("user_id",),
    "consents": ("user_id",),
    "message_settings": ("user_id",),
    "messages": ("sender_id",),
    "conversation_members": ("user_id",),
    "circle_members": ("user_id",),
    "circles": ("owner_id",),
    "blocks": ("blocker_id", "blocked_id"),
    "mutes": ("muter_id", "muted_id"),
    "bookmarks": ("user_id",),
    "post_feedback": ("user_id",),
    "notifications": ("recipient_id",),
    "notification_events": ("actor_id", "recipient_id"),
    "recommendation_interests": ("user_id",),
    "trust_scores": ("user_id",),
    "reports": ("reporter_id",),
    "subscriptions": ("subscriber_id", "creator_id"),
    "subscription_plans": ("creator_id",),
    "data_exports": ("user_id",),
    "content_flags": ("author_id",),
    "hashtag_activity": ("user_id",),
    "hashtag_posts": ("author_id",),
    "message_request_items": ("sender_id",),
    "message_requests": ("sender_id", "recipient_id"),
}

RULES: dict[str, Rule] = {
    **{t: Rule("delete", f"rows where {' or '.join(cols)} is the user") for t, cols in _DELETE_WHERE.items()},
    "reports": Rule(
        "delete",
        "the reports the user filed; reports about the user stay as moderation records under the pseudonymous id",
    ),
    "users": Rule(
        "anonymise",
        "the row stays as a tombstone so others' rows that point at it stay whole (their "
        "conversations, the ledger): email, phone and their proofs cleared, username `erased-` + "
        "22 hex digits of the id, "
        "the password hash made unusable; the id is a pseudonym nothing else resolves",
    ),
    "posts": Rule("delete", "every post through the normal deletion (post.deleted): files, search, trending, recs"),
    "post_images": Rule("delete", "with the posts"),
    "user_counters": Rule(
        "anonymise", "the user's follower and following counts fall to zero with the unfollow events: counts only"
    ),
    "post_counters": Rule(
        "keep", "counts of others' reactions on the user's deleted posts: no personal data, orphaned"
    ),
    "conversations": Rule(
        "keep", "the other member keeps the conversation and their own messages; it names the pseudonymous id"
    ),
    "remixes": Rule("delete", "with the posts (either side)"),
    "remix_settings": Rule("delete", "with the posts"),
    "comments": Rule("delete", "every comment with its replies (comment.deleted each), as a deleted comment"),
    "images": Rule("delete", "rows and files (avatars, covers, unposted images)"),
    "videos": Rule("delete", "rows and files (with their posts; unposted uploads too)"),
    "moderation_cases": Rule("delete", "with the videos they are about"),
    "reaction_edges": Rule(
        "anonymise",
        "each active reaction is removed by a reaction.removed event, so counters drop; the "
        "inactive edge keeps the pseudonymous id as the version that makes a late event a no-op",
    ),
    "follow_edges": Rule(
        "anonymise", "both directions unfollowed by follow.removed events; inactive edges stay as above"
    ),
    "audit_log": Rule("keep", "the accountability record the law asks for, until AUDIT_RETENTION (365 d)"),
    "wallet_accounts": Rule("keep", "financial records: Egyptian tax and AML rules keep books 5 years"),
    "wallet_transactions": Rule("keep", "financial records (as above)"),
    "wallet_entries": Rule("keep", "financial records (as above)"),
    "wallet_topups": Rule("keep", "financial records (as above), payment references included"),
    "wallet_cashouts": Rule("keep", "financial records (as above), the payout destination included"),
    "creator_earnings": Rule("keep", "financial records (as above)"),
    "creator_metrics_daily": Rule(
        "keep", "aggregates of others' engagement with the creator; no personal data of others"
    ),
    "outbox": Rule("expire", "relayed and deleted within seconds of commit"),
    "message_attachments": Rule("delete", "with the user's messages (foreign key)"),
    "post_search": Rule("delete", "with the posts (post.deleted, and the foreign key)"),
    "hashtag_removed_posts": Rule("keep", "ids of posts moderation removed: no personal data"),
    "hashtags": Rule("keep", "per-tag counts: no personal data"),
    "moderation_terms": Rule("keep", "the staff's term list: no data of users"),
    "moderation_queue": Rule("keep", "cases about the user's content: moderation records (their content itself goes)"),
    "moderation_decisions": Rule("keep", "decisions about the user: moderation records under the pseudonymous id"),
    "moderation_appeals": Rule("keep", "the user's appeals, with the decisions they answer"),
    "moderation_quarantine": Rule("keep", "ids of quarantined media (the media themselves are deleted)"),
    "account_sanctions": Rule(
        "keep", "moderation records under the pseudonymous id (a banned account's history), reason text included"
    ),
    "account_erasures": Rule("keep", "the record that this account was erased, and what the erasure did"),
}

OTHER_STORES: dict[str, Rule] = {
    "engagement store (PostgreSQL or ScyllaDB)": Rule(
        "anonymise", "as reaction_edges/follow_edges; user counters deleted"
    ),
    "Qdrant": Rule("delete", "the user's interest vector (`users`); posts' vectors go with post.deleted"),
    "object storage": Rule("delete", "videos, images, export archives (exports/<user>/)"),
    "Redis": Rule("delete", "every key naming the user's id (caches, feeds, presence, limits, recs state)"),
    "Kafka topics": Rule("expire", "events age out with the topics' retention (7 days; dead letters alike)"),
}


async def _posts(svc: Services, user_id: UUID) -> int:
    async with svc.sessions() as s:
        ids = list((await s.scalars(select(Post.id).where(Post.author_id == user_id))).all())
    for pid in ids:
        try:
            await deleting.delete_post(svc, actor_id=user_id, post_id=pid)
        except Exception as exc:  # NotFound: deleted meanwhile
            if getattr(exc, "code", None) != "post_not_found":
                raise
    return len(ids)


async def _edges(svc: Services, user_id: UUID) -> tuple[int, int]:
    """Reactions and follows leave through the same events as an unlike / unfollow, so counters
    (PostgreSQL or CQL) move exactly as they would have."""
    reactions = await svc.store.reactions_by_user(user_id)
    for post_id, kind in reactions:
        payload = {"post_id": str(post_id), "user_id": str(user_id), "type": kind}
        await svc.producer.send(REACTIONS.name, str(post_id), Event("reaction.removed", payload, actor=user_id))
    follows = 0
    for direction in ("following", "followers"):
        after = None
        while True:
            page = await getattr(svc.store, f"list_{direction}")(user_id, after=after, limit=500)
            for link in page:
                follower, followee = (user_id, link.user_id) if direction == "following" else (link.user_id, user_id)
                payload = {"follower_id": str(follower), "followee_id": str(followee)}
                await svc.producer.send(FOLLOWS.name, str(followee), Event("follow.removed", payload, actor=follower))
                follows += 1
            if len(page) < 500:
                break
            after = page[-1]
    return len(reactions), follows


async def _files(svc: Services, user_id: UUID) -> int:
    store, n = storage_for(svc.settings), 0
    async with svc.sessions() as s:
        vids = (
            await s.execute(select(videos.Video.id, videos.Video.original_key).where(videos.Video.owner_id == user_id))
        ).all()
        imgs = list((await s.scalars(select(Image.id).where(Image.owner_id == user_id))).all())
    for vid, key in vids:
        n += await videos.remove_stored(svc, vid, key)
    for iid in imgs:
        n += await store.delete_prefix(images.prefix(iid))
    n += await store.delete_prefix(f"exports/{user_id}/")
    async with svc.sessions() as s, s.begin():
        await s.execute(delete(videos.Video).where(videos.Video.owner_id == user_id))
        await s.execute(delete(Image).where(Image.owner_id == user_id))
    return n


async def _tables(svc: Services, user_id: UUID) -> dict[str, int]:
    out: dict[str, int] = {}
    async with svc.sessions() as s, s.begin():
        # others' grouped notifications that name the user among their actors
        await s.execute(
            text(
                "UPDATE notifications SET actors = array_remove(actors, :u), actor_count = greatest(actor_count - 1, 0)"
                " WHERE :u = ANY(actors)"
            ),
            {"u": user_id},
        )
        for name, cols in _DELETE_WHERE.items():
            # names from the constant above, never from input; plain SQL, so the worker need not
            # have imported every table's module
            where = " OR ".join(f"{c} = :u" for c in cols)
            res = await s.execute(text(f"DELETE FROM {name} WHERE {where}"), {"u": user_id})
            out[name] = res.rowcount or 0  # type: ignore[attr-defined]
        await s.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                email=None,
                email_verified_at=None,
                phone=None,
                phone_verified_at=None,
                username=tombstone_username(user_id),
                password_hash=erasure.unusable_password(),
                role="user",
            )
        )
    return out


def tombstone_username(user_id: UUID) -> str:
    """Unique (the id's random tail) and within the 30 characters of a username."""
    return "erased-" + user_id.hex[-22:]


async def _redis(svc: Services, user_id: UUID) -> int:
    n = 0
    async for key in svc.redis.scan_iter(match=f"*{user_id}*", count=1000):
        n += await svc.redis.delete(key)
    return n


async def _vectors(svc: Services, user_id: UUID) -> None:
    vecs = vectors.shared(svc.settings)
    await vecs.ensure(vectors.USERS)
    await vecs.delete(vectors.USERS, [str(user_id)])


async def erase(svc: Services, user_id: UUID) -> dict:
    """Apply RULES to one account; returns the report recorded on its account_erasures row."""
    async with svc.sessions() as s:
        row = await s.get(erasure.AccountErasure, user_id)
    if row is None or row.state != "erasing":
        return {}
    report: dict = {"posts": await _posts(svc, user_id), "comments": await comments.erase_by_author(svc, user_id)}
    report["reactions"], report["follows"] = await _edges(svc, user_id)
    report["files"] = await _files(svc, user_id)
    report["tables"] = await _tables(svc, user_id)
    await _vectors(svc, user_id)
    report["redis_keys"] = await _redis(svc, user_id)
    await erasure.finish(svc, user_id, report)
    log.info("account erased", extra={"user_id": str(user_id), "report": report})
    return report


def markdown() -> str:
    """The rule as docs/privacy.md shows it (`python -m models.privacy.erasing`; a test keeps them equal)."""
    lines = ["| store | rule | what happens to the user's data, and why |", "|---|---|---|"]
    lines += [f"| `{name}` | {r.action} | {r.how} |" for name, r in sorted(RULES.items())]
    lines += [f"| {name} | {r.action} | {r.how} |" for name, r in OTHER_STORES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
