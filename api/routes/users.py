"""Profiles and trust scores: /users/{userId}/profile, /users/{userId}/trust-score.

(Follows, blocks, mutes and circles under /users are the `social` blueprint's.)
"""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import tag, validate_request

from api.auth import auth_required, client, parse_id, svc
from api.image_upload import read_file
from api.inputs.users import ProfilePatchIn
from models.accounts import profiles
from models.media import avatars
from models.moderation import trust
from models.social import flows as social_flows

bp = Blueprint("users", __name__, url_prefix="/users")
tag_users = tag(["users"])


@bp.get("/<user_id>/profile")
@tag_users
@auth_required
async def get_profile(user_id: str):
    """A user's profile with their badges; 404 `user_not_found` if there is none for you."""
    return await social_flows.view_profile(svc(), g.user_id, parse_id(user_id, "user_id"), base_url=request.host_url)


@bp.patch("/<user_id>/profile")
@tag_users
@auth_required
@validate_request(ProfilePatchIn)
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
async def put_avatar():
    """multipart/form-data, field `file`: a JPEG, PNG, WebP or HEIC image of at most
    IMAGE_MAX_BYTES becomes your avatar → 200 with your profile (`avatar_url`, `avatar_urls`).
    415 `unsupported_image`, 413 `image_too_large`, 422 `image_rejected`, 409 `image_in_review`."""
    return await _put_image("avatar")


@bp.put("/me/cover")
@tag_users
@auth_required
async def put_cover():
    """As PUT /users/me/avatar, for the profile's cover (`cover_url`, `cover_urls`)."""
    return await _put_image("cover")


@bp.get("/<user_id>/trust-score")
@tag_users
@auth_required
async def trust_score(user_id: str):
    """{"score": 0-100, "components": {name: {"value", "points"}}, "computed_at"} (docs/users.md)."""
    return await trust.get_score(svc(), g.user_id, parse_id(user_id, "user_id"))
