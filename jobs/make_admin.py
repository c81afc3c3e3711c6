"""Grant the admin role to an existing account: `make admin EMAIL=…` / `python -m jobs.make_admin EMAIL`.

The first admin has to come from outside the API (only admins grant roles there). The change is
the API's (models/accounts/roles.py): audited as `admin.role_changed` with no actor and this job (and the
OS user who ran it) as the client, published as `user.role_changed` through the outbox, which
the API's relay sends within a second. Exit codes: 0 granted (or already an admin), 1 no such
account, 2 usage or no database.

Database: DATABASE_URL, else the development stack's embedded PostgreSQL in VAR_DIR (`var/`):
the running one of `make run`, or started for the job if `make run` is not running. With
REDIS_URL set the user's cached role is dropped at once; without it the API notices the
promotion within ROLE_CACHE_TTL (30 s by default).
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from dataclasses import dataclass

import redis.asyncio as aioredis

from infra import db
from infra.embedded import ServiceError
from infra.settings import Settings
from jobs.environment import job_settings
from models.accounts import roles
from models.core.audit import Client


class _PolledRelay:
    def kick(self) -> None:
        """Nothing to wake here: the API's outbox relay polls every second."""


@dataclass
class JobServices:
    """What models.accounts.roles.set_role uses of infra.services.Services, without a Kafka producer."""

    settings: Settings
    redis: aioredis.Redis | None
    relay: _PolledRelay

    @property
    def sessions(self):
        return db.sessions()


async def grant_admin(settings: Settings, email: str) -> int:
    svc = JobServices(settings, aioredis.from_url(settings.redis_url) if settings.redis_url else None, _PolledRelay())
    db.init_engine(settings)
    try:
        user_id = await roles.user_id_by_email(svc, email)
        if user_id is None:
            print(f"make admin: no account has the email {email!r}; register it first", file=sys.stderr)
            return 1
        done = await roles.set_role(
            svc,
            user_id=user_id,
            role="admin",
            actor=None,
            client=Client(user_agent=f"jobs.make_admin (os user {getpass.getuser()})"),
        )
    finally:
        if svc.redis is not None:
            await svc.redis.aclose()
        await db.dispose_engine()
    print(f"make admin: {email} ({user_id}) " + ("is now an admin" if done["changed"] else "was already an admin"))
    return 0


def main(argv: list[str]) -> int:
    email = argv[0].strip() if argv else ""
    if not email or "@" not in email:
        print("usage: make admin EMAIL=someone@example.com", file=sys.stderr)
        return 2
    try:
        with job_settings() as settings:
            return asyncio.run(grant_admin(settings, email))
    except ServiceError as exc:
        print(f"make admin: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
