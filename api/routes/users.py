"""Profiles and trust scores: /users/{userId}/profile, /users/{userId}/trust-score.

(Follows, blocks, mutes and circles under /users are the `social` blueprint's.)
"""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, client, optional_user, parse_id, svc
from api.inputs.users import ProfilePatchIn
from api.outputs import errors
from api.outputs.social import ProfileOut, TrustScoreOut
from models.accounts import profiles
from models.moderation import trust
from models.social import flows as social_flows

bp = Blueprint("users", __name__, url_prefix="/users")
tag_users = tag(["users"])


@bp.get("/<user_id>/profile")
@tag_users
@optional_user
@document_response(ProfileOut)
@errors(404)
async def get_profile(user_id: str):
    """A user's profile with their badges; 404 `user_not_found` if there is none for you."""
    return await social_flows.view_profile(svc(), g.user_id, parse_id(user_id, "user_id"))


@bp.patch("/<user_id>/profile")
@tag_users
@auth_required
@validate_request(ProfilePatchIn)
@document_response(ProfileOut)
@errors(403)
async def patch_profile(user_id: str, data: ProfilePatchIn):
    """Edit your own profile (anyone else's: 403 `not_owner`)."""
    return await profiles.update_profile(
        svc(), actor_id=g.user_id, user_id=parse_id(user_id, "user_id"), changes=data.changes(), client=client()
    )


@bp.get("/<user_id>/trust-score")
@tag_users
@auth_required
@document_response(TrustScoreOut)
@errors(404)
async def trust_score(user_id: str):
    """{"score": 0-100, "components": {name: {"value", "points"}}, "computed_at"} (docs/users.md)."""
    return await trust.get_score(svc(), g.user_id, parse_id(user_id, "user_id"))
