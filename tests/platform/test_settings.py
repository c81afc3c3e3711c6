from datetime import timedelta

import pytest
from pydantic import ValidationError

from infra.settings import DEFAULT_JWT_SECRET, Settings, parse_duration


def test_production_refuses_the_default_or_a_short_secret(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings()
    monkeypatch.setenv("JWT_SECRET", DEFAULT_JWT_SECRET)
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("JWT_SECRET", "short")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    assert Settings().env == "production" and not Settings().graphiql_enabled


def test_node_env_alias_and_seed_variable_names(monkeypatch):
    for k in ("APP_ENV",):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("NODE_ENV", "development")
    monkeypatch.setenv("CLOUDFLARE_R2_ENDPOINT", "https://r2.example")
    monkeypatch.setenv("JWT_EXPIRATION", "7d")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@h:5432/daira")
    cfg = Settings()
    assert cfg.env == "development" and cfg.s3_endpoint == "https://r2.example"
    assert cfg.jwt_expiration == timedelta(days=7)
    assert cfg.sqlalchemy_url == "postgresql+asyncpg://u:p@h:5432/daira"


@pytest.mark.parametrize("raw,expected", [("900", 900), ("15m", 900), ("2h", 7200), ("1d", 86400), (30, 30)])
def test_durations(raw, expected):
    assert parse_duration(raw) == timedelta(seconds=expected)


def test_bad_duration_is_rejected():
    with pytest.raises(ValueError):
        parse_duration("soon")
