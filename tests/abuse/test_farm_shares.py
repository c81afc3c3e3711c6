"""The attacker repeats a share to farm a post's counters and its trending weight: once per user
and post per hour counts, over REST and GraphQL alike, whatever the channel or key."""

from __future__ import annotations

import httpx

from tests.abuse.accounts import account
from tests.support.stubs import ips


async def test_share_farming_counts_once(system):
    transport = httpx.AsyncHTTPTransport(local_address=next(ips))  # one attacker, one address
    async with httpx.AsyncClient(base_url=system.base, timeout=30, transport=transport) as c:
        (author, _), (farmer, _) = await account(c), await account(c)
        post = (await c.post("/posts", json={"caption": "farm me", "visibility": "public"}, headers=author)).json()[
            "id"
        ]
        counted = []
        for i, channel in enumerate(["link", "whatsapp", "dm", "x", "telegram"] * 3):
            r = await c.post(
                "/interactions/shares",
                json={"post_id": post, "channel": channel},
                headers={**farmer, "Idempotency-Key": f"farm-{i}"},  # a new key each time changes nothing
            )
            assert r.status_code in (200, 202), r.text
            counted.append(r.json()["counted"])
        q = (
            "mutation($p: ID!) { "
            + " ".join(f'a{i}: share(postId: $p, channel: "link") {{ counted }}' for i in range(5))
            + " }"
        )
        r = await c.post("/graphql", json={"query": q, "variables": {"p": post}}, headers=farmer)
        counted += [v["counted"] for v in r.json()["data"].values()]
        assert counted.count(True) == 1 and counted[0] is True
        # another real account's share still counts
        other, _ = await account(c)
        r = await c.post("/interactions/shares", json={"post_id": post}, headers=other)
        assert r.status_code == 202 and r.json()["counted"] is True
