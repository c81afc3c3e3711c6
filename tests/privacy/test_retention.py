"""Retention (jobs/retention.py): each store loses exactly what outlived its documented period,
and keeps the rest."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from models.core.events import new_id, uuid7_at
from tests.support.factories import register
from tests.support.processes import REPO

DAY = 86400.0


async def test_retention_prunes_exactly_the_expired(client, db, svc, stack_env):
    u = await register(client)
    uid = UUID(u["user"]["id"])
    now = datetime.now(UTC)

    # audit log: AUDIT_RETENTION is 365 days
    old_audit, new_audit = new_id(), new_id()
    for aid, age in ((old_audit, 400), (new_audit, 300)):
        await db.execute(
            "INSERT INTO audit_log (id, at, actor_user_id, action, subject, details)"
            " VALUES ($1, $2, $3, 'test.retention', $4, '{}')",
            aid,
            now - timedelta(days=age),
            uid,
            f"user:{uid}",
        )

    # notification dedupe rows: 30 days, dated by their UUIDv7 event id
    nid = new_id()
    await db.execute(
        "INSERT INTO notifications (id, recipient_id, kind, target_id, bucket, actor_count, event_count,"
        " actors, sort_id, created_at, updated_at)"
        " VALUES ($1, $2, 'follow', $2, 0, 1, 2, '{}', $1, now(), now())",
        nid,
        uid,
    )
    old_event, new_event = uuid7_at(time.time() - 45 * DAY), uuid7_at(time.time() - 5 * DAY)
    for ev in (old_event, new_event):
        await db.execute(
            "INSERT INTO notification_events (event_id, recipient_id, notification_id, actor_id)"
            " VALUES ($1, $2, $3, $2)",
            ev,
            uid,
            nid,
        )

    # sessions: ended (revoked / expired) over 30 days ago go with their tokens; a live one keeps
    # its current token and spent tokens that expired recently, and loses older spent tokens
    async def session(revoked_days: float | None, expires_days: float) -> UUID:
        sid = new_id()
        await db.execute(
            "INSERT INTO auth_sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)"
            " VALUES ($1, $2, now(), now(), $3, $4)",
            sid,
            uid,
            now + timedelta(days=expires_days),
            None if revoked_days is None else now - timedelta(days=revoked_days),
        )
        return sid

    async def token(sid: UUID, expires_days: float, used: bool) -> UUID:
        tid = new_id()
        await db.execute(
            "INSERT INTO refresh_tokens (id, user_id, session_id, token_hash, created_at, expires_at, used_at)"
            " VALUES ($1, $2, $3, $4, now(), $5, $6)",
            tid,
            uid,
            sid,
            uuid4().hex + uuid4().hex,
            now + timedelta(days=expires_days),
            now if used else None,
        )
        return tid

    revoked_long_ago = await session(revoked_days=40, expires_days=10)
    revoked_recently = await session(revoked_days=3, expires_days=10)
    expired_long_ago = await session(revoked_days=None, expires_days=-35)
    live = await session(revoked_days=None, expires_days=20)
    gone_with_session = await token(revoked_long_ago, 10, used=False)
    spent_old = await token(live, -31, used=True)
    spent_recent = await token(live, -2, used=True)
    current = await token(live, 20, used=False)

    # OTP state that lost its expiry, next to one that has it
    stray, pending = f"phonever:otp:+2010{uuid4().int % 10**8:08d}", f"phonever:otp:+2011{uuid4().int % 10**8:08d}"
    await svc.redis.hset(stray, mapping={"attempts": "1"})
    await svc.redis.hset(pending, mapping={"attempts": "0"})
    await svc.redis.expire(pending, 300)

    from jobs.retention import prune

    counts = await prune(svc)
    assert counts["audit_log"] >= 1 and counts["notification_events"] >= 1 and counts["otp_keys"] >= 1

    audit = {
        r["id"] for r in await db.fetch("SELECT id FROM audit_log WHERE id = ANY($1::uuid[])", [old_audit, new_audit])
    }
    assert audit == {new_audit}
    events = {
        r["event_id"]
        for r in await db.fetch("SELECT event_id FROM notification_events WHERE notification_id = $1", nid)
    }
    assert events == {new_event}
    sessions = {
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM auth_sessions WHERE id = ANY($1::uuid[])",
            [revoked_long_ago, revoked_recently, expired_long_ago, live],
        )
    }
    assert sessions == {revoked_recently, live}
    tokens = {
        r["id"]
        for r in await db.fetch(
            "SELECT id FROM refresh_tokens WHERE id = ANY($1::uuid[])",
            [gone_with_session, spent_old, spent_recent, current],
        )
    }
    assert tokens == {spent_recent, current}
    assert await svc.redis.exists(stray) == 0 and await svc.redis.exists(pending) == 1

    # a second run finds nothing more of these (idempotent)
    again = await prune(svc)
    assert again["otp_keys"] == 0


def test_make_retention_runs_as_a_job(stack_env):
    out = subprocess.run(
        [sys.executable, "-m", "jobs.retention"], env=stack_env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("retention: audit_log: ") and "refresh_tokens:" in out.stdout
