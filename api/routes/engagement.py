"""Views, shares and feedback on posts (models/content/views.py, models/content/feedback.py)."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, svc
from api.inputs.interactions import FeedbackIn, ShareIn, ViewIn
from api.outputs import errors
from api.outputs.content import FeedbackOut, RemovedOut, ShareOut, ViewOut
from models.content import feedback, views

bp = Blueprint("engagement", __name__, url_prefix="/interactions")
tag_interactions = tag(["interactions"])


@bp.post("/views")
@tag_interactions
@auth_required
@validate_request(ViewIn)
@document_response(ViewOut, 202)
@document_response(ViewOut)
@errors(404)
async def view(data: ViewIn):
    """A view counts after VIEW_MIN_WATCH_MS (10 s) and once per viewer and post per hour:
    202 {"counted": true, "event_id"}; otherwise 200 {"counted": false, "reason"}. Retrying a
    request whose answer was lost never counts twice."""
    result = await views.record_view(svc(), viewer_id=g.user_id, post_id=data.post_id, watched_ms=data.watched_ms)
    return result, 202 if result["counted"] else 200


@bp.post("/shares")
@tag_interactions
@auth_required
@validate_request(ShareIn)
@document_response(ShareOut, 202)
@document_response(ShareOut)
@errors(404)
async def share(data: ShareIn):
    """Counted once per user and post per hour: 202 {"event_id", "counted": true}; a repeat in
    the hour 200 {"event_id" of the counted share, "counted": false, "reason": "already_counted"}.
    An Idempotency-Key makes a retry the same share."""
    out = await views.share(
        svc(),
        user_id=g.user_id,
        post_id=data.post_id,
        channel=data.channel,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return out, 202 if out["counted"] else 200


@bp.post("/feedback")
@tag_interactions
@auth_required
@validate_request(FeedbackIn)
@document_response(FeedbackOut, 201)
@document_response(FeedbackOut)
@errors(404)
async def give_feedback(data: FeedbackIn):
    """ "not_interested" or "hide" (a hidden post never shows to you again); idempotent:
    201 when recorded, 200 when it already was."""
    created = await feedback.give(svc(), user_id=g.user_id, post_id=data.post_id, kind=data.kind)
    return {"post_id": str(data.post_id), "kind": data.kind}, 201 if created else 200


@bp.delete("/feedback")
@tag_interactions
@auth_required
@validate_request(FeedbackIn)
@document_response(RemovedOut)
async def take_back_feedback(data: FeedbackIn):
    """Take feedback back: {"removed": bool}."""
    return {"removed": await feedback.take_back(svc(), user_id=g.user_id, post_id=data.post_id, kind=data.kind)}
