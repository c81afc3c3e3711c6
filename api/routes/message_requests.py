"""Message requests (models/messaging/requests.py, docs/messages.md#message-requests): first
messages from people your dm_policy does not admit wait here until you accept or decline."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring

from api.auth import auth_required, parse_id, svc
from api.inputs import ShortPageIn
from api.outputs import errors
from api.outputs.message_requests import MessageRequestPage, RequestDecisionOut
from models.messaging import requests

bp = Blueprint("message_requests", __name__)
tag_requests = tag(["messages"])


@bp.get("/interactions/message-requests")
@tag_requests
@auth_required
@validate_querystring(ShortPageIn)
@document_response(MessageRequestPage)
async def inbox(query_args: ShortPageIn):
    """Pending requests to you, newest first, each with its sender and held messages."""
    return await requests.inbox(
        svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit, base_url=request.host_url
    )


@bp.get("/interactions/message-requests/sent")
@tag_requests
@auth_required
@validate_querystring(ShortPageIn)
@document_response(MessageRequestPage)
async def sent(query_args: ShortPageIn):
    """Your requests not accepted yet; they read `pending` until accepted (a decline is not shown)."""
    return await requests.sent(
        svc(), g.user_id, cursor=query_args.cursor, limit=query_args.limit, base_url=request.host_url
    )


@bp.post("/interactions/message-requests/<request_id>/accept")
@tag_requests
@auth_required
@document_response(RequestDecisionOut)
@errors(403, 404, 409)
async def accept(request_id: str):
    """The held messages join your conversation with the sender, who may write freely from now on.
    404 `message_request_not_found`, 409 `message_request_declined`, 403 `blocked`."""
    return await requests.accept(svc(), g.user_id, parse_id(request_id, "request_id"))


@bp.post("/interactions/message-requests/<request_id>/decline")
@tag_requests
@auth_required
@document_response(RequestDecisionOut)
@errors(404, 409)
async def decline(request_id: str):
    """Hidden for good; the sender is not told. 404 `message_request_not_found`, 409
    `message_request_accepted`."""
    return await requests.decline(svc(), g.user_id, parse_id(request_id, "request_id"))
