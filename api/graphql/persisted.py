"""Persisted queries: Apollo's automatic persisted queries (APQ) and the allow-list mode.

APQ (docs/api.md): `extensions.persistedQuery = {version: 1, sha256Hash}`. The hash alone runs the
query registered under it (in Redis, GRAPHQL_APQ_TTL); an unknown hash answers `PersistedQueryNotFound`
(HTTP 200, as Apollo Server does, so Apollo's client link retries with the query); query + hash
registers the query once the hash is verified.

Allow-list (GRAPHQL_PERSISTED_ONLY): only the manifest's queries run, by hash or by text; nothing is
registered; anything else is `PERSISTED_QUERY_NOT_ALLOWED`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from graphql import GraphQLError

from api.graphql.limits import refusal
from infra.settings import Settings

NOT_FOUND, NOT_ALLOWED = "PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_ALLOWED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
_KEY = "gql:apq:"


class Refused(Exception):
    """A persisted-query refusal: the GraphQL error and the HTTP status to answer it with."""

    def __init__(self, error: GraphQLError, status: int) -> None:
        super().__init__(error.message)
        self.error, self.status = error, status


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def load_manifest(path: str) -> dict[str, str]:
    """{sha256: query} from Apollo's persisted query manifest ({"format": "apollo-persisted-query-manifest",
    "operations": [{"id", "body", ...}]}) or from a plain {sha256: query} object. Every hash is
    checked against its query: a wrong manifest stops the start instead of refusing its clients."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        entries = {op["id"]: op["body"] for op in data["operations"]}
    elif isinstance(data, dict):
        entries = dict(data)
    else:
        raise ValueError(f"{path}: a persisted query manifest is a JSON object")
    for key, query in entries.items():
        if not isinstance(query, str) or sha256(query) != str(key).lower():
            raise ValueError(f"{path}: the entry {key!r} is not the sha256 of its query")
    return {k.lower(): q for k, q in entries.items()}


def _requested_hash(extensions: object) -> str | None:
    if extensions is None:
        return None
    if not isinstance(extensions, dict):
        raise Refused(refusal("extensions must be an object", "bad_request"), 400)
    pq = extensions.get("persistedQuery")
    if pq is None:
        return None
    if not isinstance(pq, dict) or pq.get("version") != 1:
        raise Refused(refusal("Unsupported persisted query version", "bad_request"), 400)
    digest = pq.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise Refused(refusal("sha256Hash must be 64 hex digits", "bad_request"), 400)
    return digest.lower()


async def resolve(redis, settings: Settings, allowed: dict[str, str] | None, query, extensions) -> str | None:
    """The query text to run (None: no query, the caller's usual refusal), or Refused."""
    digest = _requested_hash(extensions)
    if settings.graphql_persisted_only:
        assert allowed is not None  # loaded at start (api/app.py)
        if digest is not None and query is None:
            query = allowed.get(digest)
        elif isinstance(query, str) and (digest is None or sha256(query) == digest):
            query = allowed.get(sha256(query))
        else:
            query = None
        if query is None:
            raise Refused(refusal("only the persisted queries of this API may run", NOT_ALLOWED), 403)
        return query
    if digest is None:
        return query
    if query is None:
        stored = await redis.get(_KEY + digest)
        if stored is None:
            raise Refused(refusal("PersistedQueryNotFound", NOT_FOUND), 200)
        return stored.decode() if isinstance(stored, bytes) else stored
    if not isinstance(query, str) or sha256(query) != digest:
        raise Refused(refusal("provided sha does not match query", HASH_MISMATCH), 400)
    return query


async def register(redis, settings: Settings, extensions, query: str) -> None:
    """Registers a verified query + hash (called once the query parsed within the size limits)."""
    if settings.graphql_persisted_only or not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return
    await redis.set(_KEY + sha256(query), query, ex=settings.graphql_apq_ttl)
