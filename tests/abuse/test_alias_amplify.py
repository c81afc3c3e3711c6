"""The attacker multiplies one request with aliases, fragments and big pages: GraphQL refuses
before executing, with a stable code; the writes it lets through count one each."""

from __future__ import annotations

import httpx

from tests.abuse.accounts import account
from tests.support.stubs import ips


def _code(r: httpx.Response) -> str:
    body = r.json()
    assert body.get("data") is None, body
    return body["errors"][0]["extensions"]["code"]


async def test_alias_amplification_is_refused(system):
    transport = httpx.AsyncHTTPTransport(local_address=next(ips))  # one attacker, one address
    async with httpx.AsyncClient(base_url=system.base, timeout=30, transport=transport) as c:
        me, _ = await account(c)
        post = (await c.post("/posts", json={"caption": "target", "visibility": "public"}, headers=me)).json()["id"]
        attacker, _ = await account(c)
        # 200 aliased shares in one request: refused whole
        shares = " ".join(f'a{i}: share(postId: "{post}") {{ eventId }}' for i in range(200))
        r = await c.post("/graphql", json={"query": f"mutation {{ {shares} }}"}, headers=attacker)
        assert (r.status_code, _code(r)) in {
            (400, "too_many_aliases"),
            (400, "too_many_mutations"),
            (413, "query_too_large"),
        }
        # 50 of them, shorter: still refused before any runs
        shares = " ".join(f"a{i}: share(postId: $p) {{ eventId }}" for i in range(50))
        r = await c.post(
            "/graphql", json={"query": f"mutation($p: ID!) {{ {shares} }}", "variables": {"p": post}}, headers=attacker
        )
        assert r.status_code == 400 and _code(r) in ("too_many_aliases", "too_many_mutations")
        # the same through a fragment spread many times, no alias
        frag = "fragment S on Mutation { share(postId: $p) { eventId } } "
        r = await c.post(
            "/graphql",
            json={"query": frag + "mutation($p: ID!) { " + " ".join(["...S"] * 50) + " }", "variables": {"p": post}},
            headers=attacker,
        )
        assert r.status_code == 400 and _code(r) == "too_many_mutations"
        # big pages times aliases: the cost limit
        pages = " ".join(f"t{i}: trending(limit: 100) {{ items {{ post {{ id caption }} score }} }}" for i in range(15))
        r = await c.post("/graphql", json={"query": "{" + pages + "}"}, headers=attacker)
        assert r.status_code == 400 and _code(r) == "query_too_costly"
        # a deep nesting through fragments
        deep = "fragment F on TrendingPage { items { post { counters { views } } } } "
        r = await c.post(
            "/graphql",
            json={"query": deep + "{ " + " ".join(f"t{i}: trending(limit: 1) {{ ...F }}" for i in range(3)) + " }"},
            headers=attacker,
        )
        assert r.status_code == 200, r.text  # within the limits: served
        # a huge document
        r = await c.post("/graphql", json={"query": "{ me { id } }" + " " * 100_000}, headers=attacker)
        assert r.status_code == 413 and _code(r) == "query_too_large"
        # the schema is not the attacker's map in production; here (development) introspection may be on
        r = await c.post("/graphql", json={"query": "{ __typename }"})
        assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}
