"""Jobs find the stores of a running `make run` through VAR_DIR/stack.env."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infra.embedded import ServiceError
from infra.settings import get_settings
from jobs.environment import job_settings, stack_file
from tests.support.processes import REPO


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    saved = dict(os.environ)  # job_settings writes os.environ itself: restore all of it
    for key in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP", "KAFKA_FLAVOR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_a_job_reads_the_running_stack(clean_env, monkeypatch):
    stack_file(clean_env).write_text(
        json.dumps(
            {
                "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/daira",
                "REDIS_URL": "redis://127.0.0.1:2/0",
                "KAFKA_BOOTSTRAP": "127.0.0.1:3",
                "KAFKA_FLAVOR": "tansu",
            }
        )
    )
    with job_settings() as s:
        assert (s.database_url, s.redis_url, s.kafka_bootstrap, s.kafka_flavor) == (
            "postgresql://postgres@127.0.0.1:1/daira",
            "redis://127.0.0.1:2/0",
            "127.0.0.1:3",
            "tansu",
        )


def test_configured_stores_win_over_the_stack_file(clean_env, monkeypatch):
    stack_file(clean_env).write_text(json.dumps({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/daira"}))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@db.example:5432/prod")
    get_settings.cache_clear()
    with job_settings() as s:
        assert s.database_url == "postgresql://postgres@db.example:5432/prod"


def test_no_database_anywhere_is_a_clear_error(clean_env):
    with pytest.raises(ServiceError, match="no database"):
        with job_settings():
            pass


def _job(module: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_every_job_main_reports_in_one_line_or_exits_2_with_the_reason(stack_env, tmp_path):
    ran = _job("jobs.expire_uploads", stack_env)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "upload(s) expired in" in ran.stdout
    nowhere = {k: v for k, v in stack_env.items() if k != "DATABASE_URL"} | {"VAR_DIR": str(tmp_path)}
    for module in ("jobs.expire_uploads", "jobs.reconcile_counters", "jobs.renew_subscriptions"):
        refused = _job(module, nowhere)
        assert refused.returncode == 2 and "no database" in refused.stderr, (module, refused.stderr[-2000:])
