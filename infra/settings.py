"""All configuration, from environment variables (the seed's names where it has them).

A component whose variable is unset is the embedded one that `make run` / the tests start;
`infra.dev` fills the variables in for the processes it launches.
"""
from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal, NamedTuple

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_JWT_SECRET = "your-secret-key-change-in-production"  # the seed's placeholder

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """'15m', '7d', '900' (seconds) -> timedelta, as the seed writes JWT_EXPIRATION."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 900, 15m, 7d)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


class Rate(NamedTuple):
    """A rate limit: at most `limit` requests per fixed `window`."""
    limit: int
    window: timedelta


def parse_rate(value: str | Rate) -> Rate:
    """'15/5m' -> Rate(15, 5 minutes); the duration as parse_duration reads it."""
    if isinstance(value, Rate):
        return value
    if isinstance(value, (tuple, list)):
        return Rate(int(value[0]), parse_duration(value[1]))
    count, sep, window = str(value).partition("/")
    if not sep or not count.strip().isdigit():
        raise ValueError(f"not a rate: {value!r} (use e.g. 15/5m)")
    rate = Rate(int(count), parse_duration(window))
    if rate.limit < 1 or rate.window < timedelta(seconds=1):
        raise ValueError(f"a rate needs a limit >= 1 and a window >= 1s: {value!r}")
    return rate


RateSetting = Annotated[Rate, NoDecode]  # "15/5m" in the environment, not JSON


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias=AliasChoices("APP_ENV", "NODE_ENV"))
    port: int = Field(3000, validation_alias="PORT")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    var_dir: str = Field("var", validation_alias="VAR_DIR")

    database_url: str = Field("", validation_alias="DATABASE_URL")
    db_pool_size: int = Field(10, validation_alias="DB_POOL_SIZE")
    redis_url: str = Field("", validation_alias="REDIS_URL")
    kafka_bootstrap: str = Field("", validation_alias="KAFKA_BOOTSTRAP")
    # "tansu" switches on the client-side fixes for the embedded broker (streams/compat.py);
    # never set it against Apache Kafka / Redpanda / MSK.
    kafka_flavor: Literal["kafka", "tansu"] = Field("kafka", validation_alias="KAFKA_FLAVOR")
    kafka_partitions: int = Field(4, validation_alias="KAFKA_PARTITIONS")
    kafka_replication: int = Field(1, validation_alias="KAFKA_REPLICATION")
    # The API answers 503 if the broker has not acknowledged a write within this many seconds.
    kafka_send_timeout: float = Field(4.0, validation_alias="KAFKA_SEND_TIMEOUT")
    kafka_linger_ms: int = Field(5, validation_alias="KAFKA_LINGER_MS")
    kafka_session_timeout_ms: int = Field(10000, validation_alias="KAFKA_SESSION_TIMEOUT_MS")
    kafka_heartbeat_ms: int = Field(3000, validation_alias="KAFKA_HEARTBEAT_MS")
    consumer_group_prefix: str = Field("daira", validation_alias="CONSUMER_GROUP_PREFIX")

    scylla_hosts: str = Field("", validation_alias="SCYLLA_HOSTS")
    scylla_keyspace: str = Field("daira", validation_alias="SCYLLA_KEYSPACE")
    # SimpleStrategy replication for a keyspace the store creates; production: 3, or pre-create it.
    scylla_replication_factor: int = Field(1, validation_alias="SCYLLA_REPLICATION_FACTOR")
    qdrant_url: str = Field("", validation_alias="QDRANT_URL")
    qdrant_path: str = Field("var/qdrant", validation_alias="QDRANT_PATH")
    s3_endpoint: str = Field("", validation_alias=AliasChoices("S3_ENDPOINT", "CLOUDFLARE_R2_ENDPOINT"))
    s3_bucket: str = Field("daira-media", validation_alias="S3_BUCKET")
    media_dir: str = Field("var/media", validation_alias="MEDIA_DIR")

    jwt_secret: str = Field(DEFAULT_JWT_SECRET, validation_alias="JWT_SECRET")
    jwt_expiration: timedelta = Field(timedelta(minutes=15), validation_alias="JWT_EXPIRATION")
    refresh_expiration: timedelta = Field(timedelta(days=30), validation_alias="REFRESH_EXPIRATION")
    idempotency_ttl: timedelta = Field(timedelta(hours=24), validation_alias="IDEMPOTENCY_TTL")
    # Fixed-window limits in Redis (models/ratelimit.py), "N/duration". Login: per client IP and
    # per account email, both; register: per IP; API: per token subject, every authenticated request.
    rate_limit_login: RateSetting = Field(Rate(15, timedelta(minutes=5)), validation_alias="RATE_LIMIT_LOGIN")
    rate_limit_register: RateSetting = Field(Rate(5, timedelta(minutes=30)), validation_alias="RATE_LIMIT_REGISTER")
    rate_limit_api: RateSetting = Field(Rate(300, timedelta(minutes=5)), validation_alias="RATE_LIMIT_API")

    max_body_bytes: int = Field(256 * 1024, validation_alias="MAX_BODY_BYTES")
    graphiql: bool | None = Field(None, validation_alias="GRAPHIQL")
    worker_heartbeat_ttl: float = Field(10.0, validation_alias="WORKER_HEARTBEAT_TTL")

    @field_validator("jwt_expiration", "refresh_expiration", "idempotency_ttl", mode="before")
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)

    @field_validator("rate_limit_login", "rate_limit_register", "rate_limit_api", mode="before")
    @classmethod
    def _rate(cls, v):
        return parse_rate(v)

    @model_validator(mode="after")
    def _production_guard(self):
        if self.env == "production" and (
                self.jwt_secret == DEFAULT_JWT_SECRET or len(self.jwt_secret) < 32):
            raise ValueError("JWT_SECRET must be set to a random value of 32+ characters "
                             "in production; refusing to start with the default")
        return self

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.env != "production"

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix):]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
