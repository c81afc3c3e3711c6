"""Waiting for what the stream makes true eventually."""

from __future__ import annotations

import asyncio
import time

import httpx


async def wait_for(check, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll `check` (sync or async, returning truthy) until it holds; return its value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
            if last:
                return last
        except (httpx.HTTPError, OSError):
            pass
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def equals(awaitable, value) -> bool:
    """`await awaitable == value`, for `wait_for(lambda: equals(read(), want))`."""
    return (await awaitable) == value
