"""The one moderation queue (docs/moderation.md): reports on anything, cases, claims, decisions,
appeals, a user's history. Staff routes check the role in the domain (models/moderation/queue.
require_staff): anyone else gets 404, as for a case that does not exist."""

from __future__ import annotations

from functools import wraps

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, client, limit_write, parse_id, svc
from api.inputs.moderation import AppealIn, DecisionIn, ModerationReportIn, QueueQuery
from api.outputs import errors
from api.outputs.moderation import (
    AppealOut,
    DecisionOut,
    ModerationHistoryOut,
    ModerationReportOut,
    QueueCaseDetailOut,
    QueueCaseOut,
    QueueCasePage,
    ReasonsOut,
)
from models.core.errors import Unauthorized
from models.moderation import decisions, queue, sanctions

bp = Blueprint("moderation_queue", __name__)
tag_moderation = tag(["moderation"])


@bp.get("/moderation/reasons")
@tag_moderation
@auth_required
@document_response(ReasonsOut)
async def reasons():
    """The published taxonomy of report reasons: {"items": [{"code", "label", "weight"}]}."""
    return {"items": queue.reasons()}


@bp.post("/moderation/report")
@tag_moderation
@auth_required
@validate_request(ModerationReportIn)
@document_response(ModerationReportOut, 201)
@errors(404, 409, 429)
async def report(data: ModerationReportIn):
    """Report a post, comment, message (you share it with the moderators) or user, with a reason
    code of /moderation/reasons: 201 the report and its `case_id`. Something you cannot see: 404;
    yourself or your own content: 400 `cannot_report_self`; again while your report is open: 409
    `report_exists`; over RATE_LIMIT_REPORT: 429 `rate_limited`."""
    return await queue.report(
        svc(),
        reporter_id=g.user_id,
        target_type=data.target_type,
        target_id=data.target_id,
        reason=data.reason,
        details=data.details,
        client=client(),
    ), 201


@bp.get("/moderation/queue")
@tag_moderation
@auth_required
@validate_querystring(QueueQuery)
@document_response(QueueCasePage)
@errors(404)
async def list_queue(query_args: QueueQuery):
    """Staff: cases by severity, reach (reports) and age; waiting ones (open, claimed, appealed)
    unless `state` is given. Anyone else: 404."""
    return await queue.list_queue(
        svc(), g.user_id, state=query_args.state, cursor=query_args.cursor, limit=query_args.limit
    )


@bp.get("/moderation/cases/<case_id>")
@tag_moderation
@auth_required
@document_response(QueueCaseDetailOut)
@errors(404)
async def get_case(case_id: str):
    """Staff: the case with its content (signed playback links for a video), reports, decisions."""
    return await decisions.get_case(svc(), g.user_id, parse_id(case_id, "case_id"), base_url=request.host_url)


@bp.post("/moderation/cases/<case_id>/claim")
@tag_moderation
@auth_required
@document_response(QueueCaseOut)
@errors(404, 409)
async def claim(case_id: str):
    """Staff: take the case. Claimed by another moderator: 409 `case_claimed`."""
    return await queue.claim(svc(), g.user_id, parse_id(case_id, "case_id"), client=client())


@bp.post("/moderation/cases/<case_id>/decisions")
@tag_moderation
@auth_required
@validate_request(DecisionIn)
@document_response(DecisionOut, 201)
@errors(403, 404, 409)
async def decide(case_id: str, data: DecisionIn):
    """Staff: 201 the decision. dismiss | remove | restore | warn | strike | suspend
    (duration_hours) | ban; on an appealed case uphold | overturn (another moderator than the one
    who decided). 409 `case_claimed`, `case_appealed`, `not_appealed`, `already_removed`."""
    return await decisions.decide(
        svc(),
        actor=g.user_id,
        case_id=parse_id(case_id, "case_id"),
        action=data.action,
        reason=data.reason,
        rule=data.rule,
        duration_hours=data.duration_hours,
        client=client(),
    ), 201


def appellant(func):
    """A signed-in user, or a suspended or banned one with the `X-Appeal-Token` their refused
    login answered (models/moderation/sanctions.appeal_token): sets g.user_id."""
    signed_in = auth_required(func)

    @wraps(func)
    async def wrapper(*args, **kwargs):
        token = request.headers.get("X-Appeal-Token")
        if token is None:
            return await signed_in(*args, **kwargs)
        user_id = sanctions.appeal_user(svc(), token)
        if user_id is None:
            raise Unauthorized(
                "the appeal token is not valid or has expired; log in again", code="invalid_appeal_token"
            )
        g.user_id, g.session_id = user_id, None
        await limit_write(user_id)
        return await func(*args, **kwargs)

    wrapper._daira_auth = "required"  # type: ignore[attr-defined]
    return wrapper


@bp.post("/moderation/decisions/<decision_id>/appeal")
@tag_moderation
@appellant
@validate_request(AppealIn)
@document_response(AppealOut, 201)
@errors(404, 409)
async def appeal(decision_id: str, data: AppealIn):
    """The affected user appeals a decision once: 201. Someone else's: 404; again: 409
    `already_appealed`; after APPEAL_WINDOW_DAYS: 409 `appeal_window_closed`. A suspended or
    banned account, which cannot log in, sends the `X-Appeal-Token` its refused login answered."""
    return await decisions.appeal(
        svc(), user_id=g.user_id, decision_id=parse_id(decision_id, "decision_id"), text=data.text, client=client()
    ), 201


@bp.get("/users/me/moderation")
@tag_moderation
@appellant
@document_response(ModerationHistoryOut)
async def history():
    """Your history: the decisions about you or your content, newest first, with their appeals
    (with `X-Appeal-Token` for a suspended or banned account)."""
    return await decisions.history(svc(), g.user_id)
