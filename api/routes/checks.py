"""Content checks (any signed-in user) and the moderators' term list (staff): docs/moderation.md#content-checks."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, client, parse_id, role_required, svc
from api.inputs.checks import CheckContentIn, TermIn, TermsQuery
from api.outputs import NoContent, errors
from api.outputs.checks import CheckContentOut, TermOut, TermPage
from models.accounts import roles
from models.moderation import checks, terms

bp = Blueprint("checks", __name__)
tag_moderation = tag(["moderation"])


@bp.post("/moderation/check-content")
@tag_moderation
@auth_required
@validate_request(CheckContentIn)
@document_response(CheckContentOut)
@errors(404)
async def check_content(data: CheckContentIn):
    """The verdict (allow | review | reject) and labels of a text and/or one of your images or
    videos, as the write paths would judge them. Neither: 400 `nothing_to_check`; a media id that
    is not yours: 404 `media_not_found`; a video not scored yet: 400 `media_not_checked`."""
    return await checks.check_content(svc(), user_id=g.user_id, text=data.text, media_id=data.media_id)


@bp.get("/admin/moderation/terms")
@tag_moderation
@role_required(*roles.STAFF)
@validate_querystring(TermsQuery)
@document_response(TermPage)
async def list_terms(query_args: TermsQuery):
    """The term list, oldest first; cursor-paginated, optionally one language."""
    return await terms.list_terms(svc(), language=query_args.language, cursor=query_args.cursor, limit=query_args.limit)


@bp.post("/admin/moderation/terms")
@tag_moderation
@role_required(*roles.STAFF)
@validate_request(TermIn)
@document_response(TermOut, 201)
@errors(409)
async def add_term(data: TermIn):
    """201 the term; its normalised form already listed for that language: 409 `term_exists`.
    Takes effect on every API process at its next check."""
    return await terms.add_term(
        svc(),
        term=data.term,
        language=data.language,
        label=data.label,
        action=data.action,
        actor=g.user_id,
        client=client(),
    ), 201


@bp.delete("/admin/moderation/terms/<term_id>")
@tag_moderation
@role_required(*roles.STAFF)
@document_response(NoContent, 204)
@errors(404)
async def remove_term(term_id: str):
    """204; unknown: 404 `term_not_found`."""
    await terms.remove_term(svc(), term_id=parse_id(term_id, "term_id"), actor=g.user_id, client=client())
    return "", 204
