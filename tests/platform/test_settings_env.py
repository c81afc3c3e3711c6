"""Settings from the environment: the seed's .env.local names (DB_*, REDIS_*) when DATABASE_URL /
REDIS_URL are absent, CORS_ORIGINS and its FRONTEND_URL default, the app-link lists. Unit tests:
no stack."""

from __future__ import annotations

import pytest

from infra import dev
from infra.settings import Settings

SEED = {
    "DB_HOST": "localhost",
    "DB_PORT": "5432",
    "DB_USER": "postgres",
    "DB_PASSWORD": "postgres",
    "DB_NAME": "daira",
    "REDIS_HOST": "localhost",
    "REDIS_PORT": "6379",
    "REDIS_PASSWORD": "redis",
    "FRONTEND_URL": "http://localhost:3000",
}
NAMES = [*SEED, "DATABASE_URL", "REDIS_URL", "CORS_ORIGINS", "IOS_APP_IDS", "ANDROID_CERT_FINGERPRINTS"]


@pytest.fixture
def env(monkeypatch):
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)

    def set_(**values: str) -> Settings:
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        return Settings()

    return set_


def test_the_seeds_env_local_names_work_unchanged(env):
    s = env(**SEED)
    assert s.database_url == "postgresql://postgres:postgres@localhost:5432/daira"
    assert s.sqlalchemy_url == "postgresql+asyncpg://postgres:postgres@localhost:5432/daira"
    assert s.redis_url == "redis://:redis@localhost:6379/0"
    assert s.cors_origins == ["http://localhost:3000"]


def test_the_urls_win(env):
    s = env(**SEED, DATABASE_URL="postgresql://u@db:6543/x", REDIS_URL="redis://cache:6380/2")
    assert s.database_url == "postgresql://u@db:6543/x" and s.redis_url == "redis://cache:6380/2"


def test_odd_passwords_are_quoted(env):
    s = env(DB_HOST="db.internal", DB_PASSWORD="p@ss:w/rd#1", DB_USER="app", DB_NAME="d", REDIS_HOST="r")
    assert s.database_url == "postgresql://app:p%40ss%3Aw%2Frd%231@db.internal:5432/d"
    assert s.redis_url == "redis://r:6379/0"  # no password: no credentials in the URL


def test_nothing_set_means_the_embedded_stores(env):
    s = env()
    assert s.database_url == "" and s.redis_url == ""
    assert dev._unset({}, "DATABASE_URL", "DB_HOST") and not dev._unset(SEED, "DATABASE_URL", "DB_HOST")
    assert not dev._unset(SEED, "REDIS_URL", "REDIS_HOST")


def test_cors_and_app_link_lists(env):
    assert env().cors_origins == ["http://localhost:3000"]  # the seed's FRONTEND_URL default
    s = env(FRONTEND_URL="https://web.daira.example")
    assert s.cors_origins == ["https://web.daira.example"]
    s = env(CORS_ORIGINS=" https://a.example ,https://b.example,, ", IOS_APP_IDS="T1.app,T2.app")
    assert s.cors_origins == ["https://a.example", "https://b.example"] and s.ios_app_ids == ["T1.app", "T2.app"]
    assert env(CORS_ORIGINS="*").cors_origins == ["*"]
