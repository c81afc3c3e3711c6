"""Wallet history over GraphQL in the common pagination style (cursor/limit → nextCursor), with the
old first/after still answering as deprecated aliases (api/graphql/sdl/wallet.graphql)."""

from __future__ import annotations

from tests.support.client import gql
from tests.support.factories import user
from tests.support.wallet import fund

Q = """query($u: ID!, $cursor: String, $limit: Int, $first: Int, $after: String) {
  walletTransactions(userId: $u, cursor: $cursor, limit: $limit, first: $first, after: $after) {
    nextCursor items { amount } } }"""


async def _page(client, who, **args) -> dict:
    data = await gql(client, who, Q, {"u": str(who["id"]), **args})
    assert "errors" not in data, data
    return data["data"]["walletTransactions"]


async def test_cursor_and_limit_and_the_deprecated_first_after(client, svc):
    me = await user(client)
    for amount in (100, 200, 300):
        await fund(svc, me["id"], amount)
    first = await _page(client, me, limit=2)
    assert [i["amount"] for i in first["items"]] == [300, 200] and first["nextCursor"]
    rest = await _page(client, me, limit=2, cursor=first["nextCursor"])
    assert [i["amount"] for i in rest["items"]] == [100] and rest["nextCursor"] is None
    # the old names answer the same pages
    assert await _page(client, me, first=2) == first
    assert await _page(client, me, first=2, after=first["nextCursor"]) == rest
    both = await gql(client, me, Q, {"u": str(me["id"]), "limit": 2, "first": 2})
    assert both["errors"][0]["extensions"]["code"] == "validation_error"
    bad = await gql(client, me, Q, {"u": str(me["id"]), "limit": 0})
    assert bad["errors"][0]["extensions"]["code"] == "validation_error"
    # the schema says so
    schema = await gql(
        client,
        me,
        '{ __type(name: "Query") { fields { name args(includeDeprecated: true) { name isDeprecated } } } }',
    )
    field = next(f for f in schema["data"]["__type"]["fields"] if f["name"] == "walletTransactions")
    deprecated = {a["name"]: a["isDeprecated"] for a in field["args"]}
    assert deprecated == {"userId": False, "cursor": False, "limit": False, "first": True, "after": True}
