"""Recommendations for the signed-in user (models/discovery/recommendations.py). The trending list under
/recommendations/trending is the trending blueprint's."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs.discovery import InterestsIn, RecommendedIn
from api.outputs import errors
from api.outputs.discovery import InterestsOut, RecommendedPage
from models.content import post_view
from models.discovery import recommendations

bp = Blueprint("recommendations", __name__, url_prefix="/recommendations")


@bp.get("/users/<user_id>/recommended")
@tag(["recommendations"])
@auth_required
@validate_querystring(RecommendedIn)
@document_response(RecommendedPage)
@errors(403)
async def recommended(user_id: str, query_args: RecommendedIn):
    """Your recommended posts: {"items": [post view + "reason": interests | following | trending],
    "next_cursor", "cold_start"}. Another user's list is 403. The cursor pages through the list
    ranked at the first page (RECS_SNAPSHOT_TTL; then 410 cursor_expired); `limit` (default
    RECS_PAGE_SIZE) is fixed by that first page. Without history: onboarding interests, else
    trending for your profile's region and language (or Accept-Language)."""
    page = await recommendations.recommended(
        svc(),
        viewer_id=g.user_id,
        user_id=parse_id(user_id, "user_id"),
        cursor=query_args.cursor,
        limit=query_args.limit,
        accept_language=request.headers.get("Accept-Language"),
    )
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url, key=None)


@bp.put("/users/<user_id>/interests")
@tag(["recommendations"])
@auth_required
@validate_request(InterestsIn)
@document_response(InterestsOut)
@errors(403)
async def set_interests(user_id: str, data: InterestsIn):
    """Onboarding interests, e.g. {"topics": ["cooking", "football"]} (at most 20; [] clears them):
    they seed your recommendations until your own activity outweighs them."""
    return await recommendations.set_interests(
        svc(), viewer_id=g.user_id, user_id=parse_id(user_id, "user_id"), topics=data.topics
    )


@bp.get("/users/<user_id>/interests")
@tag(["recommendations"])
@auth_required
@document_response(InterestsOut)
@errors(403, 404)
async def get_interests(user_id: str):
    return await recommendations.get_interests(svc(), viewer_id=g.user_id, user_id=parse_id(user_id, "user_id"))
