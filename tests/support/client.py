"""Talking to the API: GraphQL calls and the error codes of answers."""

from __future__ import annotations

import httpx


async def gql(
    client: httpx.AsyncClient, user: dict, query: str, variables: dict | None = None, headers: dict | None = None
) -> dict:
    """The JSON answer of a GraphQL query made as `user`."""
    r = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={**user["headers"], **(headers or {})}
    )
    return r.json()


def code_of(r: httpx.Response, status: int) -> str:
    """The error code of an answer that must have `status`."""
    assert r.status_code == status, r.text
    return r.json()["error"]["code"]


def code(r: httpx.Response) -> tuple[int, str]:
    """(status, error code) of an error answer."""
    return r.status_code, r.json()["error"]["code"]
