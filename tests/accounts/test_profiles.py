"""Profiles over REST and GraphQL: read, own-only edit, validation, blocks hide them."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from models.social import blocking
from tests.support.factories import register
from tests.support.images import png, upload

# The seed's example query, verbatim.
SEED_ME_QUERY = """query {
  me {
    id
    email
    profile {
      displayName
      avatar
    }
  }
}"""


async def gql(client, user, query: str, variables: dict | None = None) -> dict:
    r = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=user["headers"] if user else {}
    )
    assert r.status_code in (200, 400), r.text
    return r.json()


async def test_new_profile_defaults_to_the_username(client):
    me = await register(client)
    r = await client.get(f"/users/{me['user']['id']}/profile", headers=me["headers"])
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["user_id"] == me["user"]["id"] and p["username"] == me["user"]["username"]
    assert p["display_name"] == me["user"]["username"]
    assert (p["bio"], p["avatar"], p["language"], p["region"], p["badges"]) == (None, None, None, None, [])


async def own_image(client, user) -> str:
    r = await upload(client, user, png(), name="a.png")
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_edit_own_profile_partially_and_clear_a_field(client):
    me, other = await register(client), await register(client)
    url, media = f"/users/{me['user']['id']}/profile", await own_image(client, me)
    r = await client.patch(
        url,
        headers=me["headers"],
        json={
            "display_name": "  Nour  ",
            "bio": "line one\nline two",
            "avatar_media_id": media,
            "language": "AR-eg",
            "region": "eg",
        },
    )
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["display_name"], p["bio"], p["language"], p["region"]) == ("Nour", "line one\nline two", "ar-EG", "EG")
    assert p["avatar_media_id"] == p["avatar"] == media
    # another user sees the same profile
    seen = (await client.get(url, headers=other["headers"])).json()
    assert {k: seen[k] for k in ("display_name", "bio", "avatar", "language", "region")} == {
        "display_name": "Nour",
        "bio": "line one\nline two",
        "avatar": media,
        "language": "ar-EG",
        "region": "EG",
    }
    # a field left out is kept, a null clears (the display name falls back to the username)
    r = await client.patch(url, headers=me["headers"], json={"display_name": None, "language": "zh-hant-tw"})
    p = r.json()
    assert r.status_code == 200 and p["display_name"] == me["user"]["username"]
    assert (p["language"], p["bio"], p["region"], p["avatar"]) == ("zh-Hant-TW", "line one\nline two", "EG", media)


async def test_editing_another_users_profile_is_forbidden(client):
    me, victim = await register(client), await register(client)
    url = f"/users/{victim['user']['id']}/profile"
    r = await client.patch(url, headers=me["headers"], json={"display_name": "pwned"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner"
    assert (await client.get(url, headers=me["headers"])).json()["display_name"] == victim["user"]["username"]


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": ""},
        {"display_name": "x" * 51},
        {"display_name": "tab\there"},
        {"bio": "b" * 301},
        {"bio": "bell\x07"},
        {"language": "english"},
        {"language": "e"},
        {"language": "ar_EG"},
        {"language": "ar-EGYPT"},
        {"region": "XX"},
        {"region": "EGY"},
        {"region": 12},
        {"avatar_media_id": "not-a-uuid"},
        {"display_name": "ok", "role": "admin"},  # unknown fields are refused, not ignored
    ],
)
async def test_bad_profile_input_is_422(client, body):
    me = await register(client)
    r = await client.patch(f"/users/{me['user']['id']}/profile", headers=me["headers"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_bad_requests_have_clear_codes(client):
    me = await register(client)
    cases = [
        (client.get("/users/not-a-uuid/profile", headers=me["headers"]), 400, "invalid_id"),
        (client.get(f"/users/{uuid4()}/profile", headers=me["headers"]), 404, "user_not_found"),
        # a public profile reads without a token (docs/users.md), but a bad token is a 401: refresh
        (client.get(f"/users/{me['user']['id']}/profile", headers={"Authorization": "Bearer x"}), 401, "invalid_token"),
        (client.patch(f"/users/{me['user']['id']}/profile", headers=me["headers"], json=["x"]), 400, "bad_request"),
    ]
    for call, status, code in cases:
        r = await call
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


async def test_a_block_either_way_hides_the_profile(client, svc):
    owner, viewer, bystander = await register(client), await register(client), await register(client)
    url = f"/users/{owner['user']['id']}/profile"
    assert (await client.get(url, headers=viewer["headers"])).status_code == 200
    await blocking.block(svc, blocker_id=UUID(owner["user"]["id"]), target_id=UUID(viewer["user"]["id"]))
    r = await client.get(url, headers=viewer["headers"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.get(f"/users/{viewer['user']['id']}/profile", headers=owner["headers"])
    assert r.status_code == 404
    assert (await client.get(url, headers=bystander["headers"])).status_code == 200
    r = await gql(client, viewer, "query($id: ID!) { user(id: $id) { id } }", {"id": owner["user"]["id"]})
    assert r["errors"][0]["extensions"]["code"] == "user_not_found"


async def test_graphql_me_profile_exactly_as_the_seed_shows(client):
    me = await register(client)
    r = await gql(client, me, SEED_ME_QUERY)
    assert r == {
        "data": {
            "me": {
                "id": me["user"]["id"],
                "email": me["user"]["email"],
                "profile": {"displayName": me["user"]["username"], "avatar": None},
            }
        }
    }
    media = await own_image(client, me)
    await client.patch(
        f"/users/{me['user']['id']}/profile",
        headers=me["headers"],
        json={"display_name": "Salma", "avatar_media_id": media},
    )
    r = await gql(client, me, SEED_ME_QUERY)
    assert r["data"]["me"]["profile"] == {"displayName": "Salma", "avatar": media}


async def test_graphql_update_profile_and_user_query(client):
    me, other = await register(client), await register(client)
    r = await gql(
        client,
        me,
        """mutation($in: UpdateProfileInput!) { updateProfile(input: $in) {
        displayName bio language region badges { name } username } }""",
        {"in": {"displayName": "Karim", "bio": "hi", "language": "fr-CA", "region": "ca"}},
    )
    assert r["data"]["updateProfile"] == {
        "displayName": "Karim",
        "bio": "hi",
        "language": "fr-CA",
        "region": "CA",
        "badges": [],
        "username": me["user"]["username"],
    }
    r = await gql(client, me, """mutation { updateProfile(input: {language: "klingon!"}) { language } }""")
    assert r["errors"][0]["extensions"]["code"] == "validation_error"
    # another user's view: the profile, never the email
    r = await gql(
        client,
        other,
        "query($id: ID!) { user(id: $id) { id email username profile { displayName bio } } }",
        {"id": me["user"]["id"]},
    )
    assert r["data"]["user"] == {
        "id": me["user"]["id"],
        "email": None,
        "username": me["user"]["username"],
        "profile": {"displayName": "Karim", "bio": "hi"},
    }
    # a public profile reads without a token, its email stays hidden
    r = await gql(client, None, "query($id: ID!) { user(id: $id) { id email } }", {"id": me["user"]["id"]})
    assert r["data"]["user"] == {"id": me["user"]["id"], "email": None}
