from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, svc
from api.inputs.interactions import ReactionIn
from api.outputs import errors
from api.outputs.media import EventOut
from models.content import reactions

bp = Blueprint("interactions", __name__, url_prefix="/interactions")


async def _react(data: ReactionIn, add: bool):
    eid = await reactions.react(
        svc(),
        user_id=g.user_id,
        post_id=data.post_id,
        type=data.type,
        add=add,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return {"event_id": str(eid)}, 202


@bp.post("/reactions")
@tag(["interactions"])
@auth_required
@validate_request(ReactionIn)
@document_response(EventOut, 202)
@errors(404)
async def add_reaction(data: ReactionIn):
    """Accepted for processing (202): the counters agent applies it within moments."""
    return await _react(data, add=True)


@bp.delete("/reactions")
@tag(["interactions"])
@auth_required
@validate_request(ReactionIn)
@document_response(EventOut, 202)
@errors(404)
async def remove_reaction(data: ReactionIn):
    return await _react(data, add=False)
