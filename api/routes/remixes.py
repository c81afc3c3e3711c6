"""Duets and stitches (models/content/remixes.py): the source's switches and its list of remixes. Making
one is `POST /posts` with "remix" (api/routes/posts.py)."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, parse_id, svc
from api.inputs.content import RemixPageIn, RemixSettingsIn
from api.outputs import errors
from api.outputs.content import RemixPage, RemixSettingsOut
from models.content import post_view, remixes

bp = Blueprint("remixes", __name__)


@bp.patch("/posts/<post_id>/remix-settings")
@tag(["posts"])
@auth_required
@validate_request(RemixSettingsIn)
@document_response(RemixSettingsOut)
@errors(403, 404)
async def settings(post_id: str, data: RemixSettingsIn):
    """Allow or refuse new duets / stitches of your post (403 not_owner otherwise); an omitted
    switch keeps its value. New remixes of a refusing post get 403 remix_disabled."""
    return await remixes.set_settings(
        svc(), g.user_id, parse_id(post_id, "post_id"), allow_duets=data.allow_duets, allow_stitches=data.allow_stitches
    )


@bp.get("/posts/<post_id>/remixes")
@tag(["posts"])
@auth_required
@validate_querystring(RemixPageIn)
@document_response(RemixPage)
@errors(404)
async def remixes_of(post_id: str, query_args: RemixPageIn):
    """Duets and stitches of a post you can see, newest first, those you may see:
    {"items": [post view], "next_cursor"}."""
    page = await remixes.list_remixes(
        svc(),
        g.user_id,
        parse_id(post_id, "post_id"),
        type=query_args.type,
        cursor=query_args.cursor,
        limit=query_args.limit,
    )
    return await post_view.render_page(svc(), g.user_id, page, base_url=request.host_url, key=None)
