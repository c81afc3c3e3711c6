"""Profiles, grids, bookmarks and trust scores: /users/{userId}/profile, /users/by-username/{username},
/users/{userId}/posts, /users/me/bookmarks, /users/{userId}/trust-score, /users/me/restrictions.

(Follows, blocks, mutes and circles under /users are the `social` blueprint's.)
"""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, client, optional_user, parse_id, svc
from api.image_upload import read_file
from api.inputs import ShortPageIn
from api.inputs.users import ProfilePatchIn
from api.outputs import errors
from api.outputs.content import PostPage
from api.outputs.moderation import RestrictionsOut
from api.outputs.social import ProfileOut, TrustScoreOut
from models.accounts import profiles
from models.content import bookmarks, grid, post_view
from models.media import avatars
from models.moderation import sanctions, trust

bp = Blueprint("users", __name__, url_prefix="/users")
tag_users = tag(["users"])


@bp.get("/me/restrictions")
@tag_users
@auth_required
@document_response(RestrictionsOut)
async def my_restrictions():
    """Your active suspension or ban (`restriction`, null when none; `until` null for a ban), your
    strikes counted by the strike policy, the policy, and your warnings, strikes and suspensions
    with their rule and reason, newest first (docs/moderation.md#sanctions-and-strike-policy)."""
    return await sanctions.summary(svc(), g.user_id)


@bp.get("/<user_id>/profile")
@tag_users
@optional_user
@document_response(ProfileOut)
@errors(404)
async def get_profile(user_id: str):
    """A user's profile with their badges and counts (posts you may see, followers, following,
    likes received); 404 `user_not_found` if there is none for you."""
    return await grid.profile(svc(), g.user_id, parse_id(user_id, "user_id"), base_url=request.host_url)


@bp.get("/by-username/<username>")
@tag_users
@optional_user
@document_response(ProfileOut)
@errors(404)
async def get_profile_by_username(username: str):
    """The same profile, found by username (case-insensitive)."""
    return await grid.profile_by_username(svc(), g.user_id, username, base_url=request.host_url)


@bp.get("/<user_id>/posts")
@tag_users
@optional_user
@validate_querystring(ShortPageIn)
@document_response(PostPage)
@errors(404)
async def user_posts(user_id: str, query_args: ShortPageIn):
    """The profile's grid: posts you may see (not stories), pinned first, then newest first
    ({"items": [post view], "next_cursor"})."""
    page = await grid.user_posts(
        svc(), g.user_id, parse_id(user_id, "user_id"), cursor=query_args.cursor, limit=query_args.limit
    )
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url, key=None)


@bp.get("/me/bookmarks")
@tag_users
@auth_required
@validate_querystring(ShortPageIn)
@document_response(PostPage)
async def my_bookmarks(query_args: ShortPageIn):
    """Your bookmarks, most recently bookmarked first (private: only ever your own)."""
    page = await bookmarks.list_bookmarks(svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit)
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url, key=None)


@bp.patch("/<user_id>/profile")
@tag_users
@auth_required
@validate_request(ProfilePatchIn)
@document_response(ProfileOut)
@errors(403)
async def patch_profile(user_id: str, data: ProfilePatchIn):
    """Edit your own profile (anyone else's: 403 `not_owner`)."""
    return await profiles.update_profile(
        svc(),
        actor_id=g.user_id,
        user_id=parse_id(user_id, "user_id"),
        changes=data.changes(),
        client=client(),
        base_url=request.host_url,
    )


async def _put_image(which: str):
    data = await read_file()
    return await avatars.set_image(svc(), g.user_id, data, which=which, client=client(), base_url=request.host_url)


@bp.put("/me/avatar")
@tag_users
@auth_required
@document_response(ProfileOut)
@errors(409, 413, 415, 422)
async def put_avatar():
    """multipart/form-data, field `file`: a JPEG, PNG, WebP or HEIC image of at most
    IMAGE_MAX_BYTES becomes your avatar → 200 with your profile (`avatar_url`, `avatar_urls`).
    415 `unsupported_image`, 413 `image_too_large`, 422 `image_rejected`, 409 `image_in_review`."""
    return await _put_image("avatar")


@bp.put("/me/cover")
@tag_users
@auth_required
@document_response(ProfileOut)
@errors(409, 413, 415, 422)
async def put_cover():
    """As PUT /users/me/avatar, for the profile's cover (`cover_url`, `cover_urls`)."""
    return await _put_image("cover")


@bp.get("/<user_id>/trust-score")
@tag_users
@auth_required
@document_response(TrustScoreOut)
@errors(404)
async def trust_score(user_id: str):
    """{"score": 0-100, "components": {name: {"value", "points"}}, "computed_at"} (docs/users.md)."""
    return await trust.get_score(svc(), g.user_id, parse_id(user_id, "user_id"))
