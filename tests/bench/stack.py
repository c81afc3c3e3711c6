"""The benchmarks' own stack environment: one place for what every bench run sets."""

from __future__ import annotations

import os
import secrets
from uuid import uuid4

# Anything that would point the benchmark at someone's real services is dropped: it always
# runs on its own embedded stack.
EXTERNAL = (
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP",
    "KAFKA_FLAVOR",
    "SCYLLA_HOSTS",
    "QDRANT_URL",
    "QDRANT_PATH",
    "S3_ENDPOINT",
    "CLOUDFLARE_R2_ENDPOINT",
    "MEDIA_DIR",
)


def own_env() -> dict[str, str]:
    """This process's environment without the pointers to other stacks."""
    return {k: v for k, v in os.environ.items() if k not in EXTERNAL}


def bench_env(base_env: dict, add: dict, var_dir, prefix: str = "bench") -> dict[str, str]:
    """`base_env` plus the embedded stack's `add` and the settings a benchmark runs with: load
    comes from one IP and a few tokens, so the production rate limits would refuse it."""
    return {
        **base_env,
        **add,
        "APP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "JWT_SECRET": secrets.token_urlsafe(40),
        "VAR_DIR": str(var_dir),
        "CONSUMER_GROUP_PREFIX": f"{prefix}{uuid4().hex[:8]}",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_HEARTBEAT_MS": "1000",
        "RATE_LIMIT_REGISTER": "1000000/1m",
        "RATE_LIMIT_LOGIN": "1000000/1m",
        "RATE_LIMIT_API": "100000000/1m",
        "RATE_LIMIT_WRITE": "100000000/1m",
        "RATE_LIMIT_ANONYMOUS": "100000000/1m",
        "COUNT_SQL_STATEMENTS": "1",  # the feed section reports statements per page
    }
