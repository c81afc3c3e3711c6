"""One outbound HTTP call for the provider adapters (infra/providers/, infra/payments/): a fresh
httpx client with the adapter's timeout, the request, and its JSON body. Each adapter keeps its
own error types and messages: it says how to build the error for "no answer"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


async def call(
    method: str,
    url: str,
    *,
    timeout: float,
    unreachable: Callable[[str], Exception],
    base_url: str = "",
    require_json: bool = False,
    **request: Any,
) -> tuple[httpx.Response, Any]:
    """(the response, its parsed JSON body). A request that got no answer (any httpx.HTTPError:
    connection, timeout, protocol) raises `unreachable(<the error's class name>)`; with
    `require_json` a body that is not JSON (or a ValueError on the way) counts as no answer too,
    without it such a body reads as None. `request`: httpx's (json=, content=, params=, headers=)."""
    failures = (httpx.HTTPError, ValueError) if require_json else httpx.HTTPError
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
            r = await http.request(method, url, **request)
        body = r.json() if require_json else _json_or_none(r)
    except failures as exc:
        raise unreachable(type(exc).__name__) from exc
    return r, body


def _json_or_none(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None
