"""The moderators' queue of moderation cases (moderators and admins; docs/moderation.md)."""

from __future__ import annotations

from quart import Blueprint, g, redirect, request, send_file
from quart_schema import document_response, hide, tag, validate_querystring, validate_request

from api.auth import client, parse_id, role_required, svc
from api.inputs.moderation import CasesQuery, DecideIn, HeldImagesQuery
from api.outputs import errors
from api.outputs.media import HeldImageOut, HeldImagePage
from api.outputs.moderation import CaseOut, CasePage
from api.outputs.platform import Binary, Redirect
from infra.storage import content_type, storage_for
from models.accounts import roles
from models.moderation import cases, image_review

bp = Blueprint("moderation", __name__, url_prefix="/admin/moderation")
tag_moderation = tag(["moderation"])


@bp.get("/cases")
@tag_moderation
@role_required(*roles.STAFF)
@validate_querystring(CasesQuery)
@document_response(CasePage)
async def list_cases(query_args: CasesQuery):
    """Open cases oldest first (closed ones: latest decision first); cursor-paginated. Each has
    the video, its owner and post, the classifier's score and decision, and a signed thumbnail URL."""
    return await cases.list_cases(
        svc(), status=query_args.status, cursor=query_args.cursor, limit=query_args.limit, base_url=request.host_url
    )


@bp.post("/cases/<case_id>/decide")
@tag_moderation
@role_required(*roles.STAFF)
@validate_request(DecideIn)
@document_response(CaseOut)
@errors(404, 409)
async def decide(case_id: str, data: DecideIn):
    """approve: the video becomes ready; reject: rejected (`moderator_rejected`). A decided case
    is 409 `case_closed`."""
    return await cases.decide(
        svc(),
        case_id=parse_id(case_id, "case_id"),
        decision=data.decision,
        note=data.note,
        actor=g.user_id,
        client=client(),
        base_url=request.host_url,
    )


@bp.get("/cases/<case_id>/thumbnail.jpg")
@hide
@document_response(Binary)
@document_response(Redirect, 302)
@errors(403, 404)
async def thumbnail(case_id: str):
    """No Authorization header (an <img> fetches it): the signed `t` token is the permission."""
    key = await cases.thumbnail_key(svc(), parse_id(case_id, "case_id"), request.args.get("t"))
    store = storage_for(svc().settings)
    local = store.local_path(key)
    if local is None:
        return redirect(await store.url(key, expires=int(svc().settings.media_url_ttl.total_seconds())), 302)
    if not local.is_file():
        raise cases.CaseNotFound("no such file")
    response = await send_file(local, mimetype=content_type(key), conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/images")
@tag_moderation
@role_required(*roles.STAFF)
@validate_querystring(HeldImagesQuery)
@document_response(HeldImagePage)
async def held_images(query_args: HeldImagesQuery):
    """Images the NSFW classifier held for review, oldest first, with signed links and the score."""
    return await image_review.held(svc(), cursor=query_args.cursor, limit=query_args.limit, base_url=request.host_url)


@bp.post("/images/<image_id>/decide")
@tag_moderation
@role_required(*roles.STAFF)
@validate_request(DecideIn)
@document_response(HeldImageOut)
@errors(404, 409)
async def decide_image(image_id: str, data: DecideIn):
    """approve: the image becomes ready (usable by its owner); reject: it is deleted. An image that
    is not held: 409 `image_not_held`."""
    return await image_review.decide(
        svc(),
        image_id=parse_id(image_id, "image_id"),
        decision=data.decision,
        note=data.note,
        actor=g.user_id,
        client=client(),
    )
