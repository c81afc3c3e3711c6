"""Social graph: follows (events, 202), blocks and mutes (synchronous), circles (owner-only).

Every `{user_id}` here also accepts `me`. Profiles, trust score and badges live in the "users"
blueprint (api/routes/users.py) under the same /users prefix.
"""

from __future__ import annotations

from uuid import UUID

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs import PageIn
from api.inputs.social import CircleIn, MemberIn
from api.outputs import NoContent, errors
from api.outputs.media import EventOut
from api.outputs.social import CircleOut, CirclePage, FollowCountsOut, MembershipOut, UserLinkPage
from models.social import blocking, circles, follows, mutes
from models.social.lookups import require_user

bp = Blueprint("social", __name__, url_prefix="/users")
tag_social = tag(["social"])


def _uid(user_id: str) -> UUID:
    return g.user_id if user_id == "me" else parse_id(user_id, "user_id")


# ------------------------------------------------------------------ follows


async def _follow(user_id: str, add: bool):
    eid = await follows.follow(
        svc(),
        follower_id=g.user_id,
        followee_id=_uid(user_id),
        add=add,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return {"event_id": str(eid)}, 202


@bp.post("/<user_id>/follow")
@tag_social
@auth_required
@document_response(EventOut, 202)
@errors(403, 404)
async def follow(user_id: str):
    """Accepted (202): the follows agent applies it within moments. 403 `blocked` if either of
    you blocked the other; 400 `cannot_follow_self`; 404 `user_not_found`."""
    return await _follow(user_id, add=True)


@bp.delete("/<user_id>/follow")
@tag_social
@auth_required
@document_response(EventOut, 202)
@errors(404)
async def unfollow(user_id: str):
    return await _follow(user_id, add=False)


@bp.get("/<user_id>/follow-counts")
@tag_social
@auth_required
@document_response(FollowCountsOut)
@errors(404)
async def follow_counts(user_id: str):
    """{"followers": n, "following": n}."""
    uid = _uid(user_id)
    await require_user(svc(), uid)
    return await follows.follow_counts(svc(), uid)


@bp.get("/<user_id>/followers")
@tag_social
@auth_required
@validate_querystring(PageIn)
@document_response(UserLinkPage)
@errors(404)
async def followers(user_id: str, query_args: PageIn):
    """Newest first, `{"items": [{"user", "followed_at"}], "next_cursor"}`."""
    return await follows.followers(
        svc(), _uid(user_id), viewer_id=g.user_id, cursor=query_args.cursor, limit=query_args.limit
    )


@bp.get("/<user_id>/following")
@tag_social
@auth_required
@validate_querystring(PageIn)
@document_response(UserLinkPage)
@errors(404)
async def following(user_id: str, query_args: PageIn):
    return await follows.following(
        svc(), _uid(user_id), viewer_id=g.user_id, cursor=query_args.cursor, limit=query_args.limit
    )


# ------------------------------------------------------------------ blocks and mutes


@bp.post("/<user_id>/block")
@tag_social
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def block(user_id: str):
    """Holds when this answers (204). Ends follows both ways and circle memberships both ways."""
    await blocking.block(svc(), blocker_id=g.user_id, target_id=_uid(user_id))
    return "", 204


@bp.delete("/<user_id>/block")
@tag_social
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def unblock(user_id: str):
    await blocking.unblock(svc(), blocker_id=g.user_id, target_id=_uid(user_id))
    return "", 204


@bp.post("/<user_id>/mute")
@tag_social
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def mute(user_id: str):
    await mutes.mute(svc(), muter_id=g.user_id, target_id=_uid(user_id))
    return "", 204


@bp.delete("/<user_id>/mute")
@tag_social
@auth_required
@document_response(NoContent, 204)
@errors(404)
async def unmute(user_id: str):
    await mutes.unmute(svc(), muter_id=g.user_id, target_id=_uid(user_id))
    return "", 204


@bp.get("/me/blocks")
@tag_social
@auth_required
@validate_querystring(PageIn)
@document_response(UserLinkPage)
async def my_blocks(query_args: PageIn):
    """Newest first, `{"items": [{"user", "created_at"}], "next_cursor"}`."""
    return await blocking.list_blocks(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit)


@bp.get("/me/mutes")
@tag_social
@auth_required
@validate_querystring(PageIn)
@document_response(UserLinkPage)
async def my_mutes(query_args: PageIn):
    return await mutes.list_mutes(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit)


# ------------------------------------------------------------------ circles (owner only)


@bp.post("/<user_id>/circles")
@tag_social
@auth_required
@validate_request(CircleIn)
@document_response(CircleOut, 201)
@errors(403, 409)
async def create_circle(user_id: str, data: CircleIn):
    """201 circle. 403 `not_owner` for someone else's; 409 `circle_name_taken`, `circle_limit_reached`."""
    return await circles.create_circle(svc(), viewer_id=g.user_id, owner_id=_uid(user_id), name=data.name), 201


@bp.get("/<user_id>/circles")
@tag_social
@auth_required
@document_response(CirclePage)
@errors(403)
async def list_circles(user_id: str):
    """Own circles only (403 `not_owner` for anyone else's)."""
    return await circles.list_circles(svc(), viewer_id=g.user_id, owner_id=_uid(user_id))


@bp.post("/<user_id>/circles/<circle_id>/members")
@tag_social
@auth_required
@validate_request(MemberIn)
@document_response(MembershipOut, 201)
@document_response(MembershipOut)
@errors(403, 404)
async def add_member(user_id: str, circle_id: str, data: MemberIn):
    """201 added, 200 already a member. 403 `blocked` if a block stands between owner and member."""
    cid = parse_id(circle_id, "circle_id")
    added = await circles.add_member(
        svc(), viewer_id=g.user_id, owner_id=_uid(user_id), circle_id=cid, member_id=data.user_id
    )
    return {"circle_id": str(cid), "user_id": str(data.user_id)}, 201 if added else 200


@bp.delete("/<user_id>/circles/<circle_id>/members/<member_id>")
@tag_social
@auth_required
@document_response(NoContent, 204)
@errors(403, 404)
async def remove_member(user_id: str, circle_id: str, member_id: str):
    await circles.remove_member(
        svc(),
        viewer_id=g.user_id,
        owner_id=_uid(user_id),
        circle_id=parse_id(circle_id, "circle_id"),
        member_id=parse_id(member_id, "member_id"),
    )
    return "", 204


@bp.get("/<user_id>/circles/<circle_id>/members")
@tag_social
@auth_required
@validate_querystring(PageIn)
@document_response(UserLinkPage)
@errors(403, 404)
async def list_members(user_id: str, circle_id: str, query_args: PageIn):
    """Most recently added first, `{"items": [{"user", "created_at"}], "next_cursor"}`."""
    return await circles.list_members(
        svc(),
        viewer_id=g.user_id,
        owner_id=_uid(user_id),
        circle_id=parse_id(circle_id, "circle_id"),
        cursor=query_args.cursor,
        limit=query_args.limit,
    )
