"""Fixtures of the wallet tests."""

from __future__ import annotations

import pytest_asyncio

from infra.services import Services
from infra.settings import get_settings


@pytest_asyncio.fixture(scope="module")
async def svc(stack_env):
    """In-process services shared by a module's tests (the suite's `svc` is per test)."""
    s = await Services.start(get_settings(), relay=False)
    yield s
    await s.stop()
