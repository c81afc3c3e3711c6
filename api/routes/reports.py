"""POST /reports: flag a user or a post for the staff's report queue (/admin/reports)."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_request

from api.auth import auth_required, client, svc
from api.inputs.moderation import ReportIn
from api.outputs import errors
from api.outputs.moderation import ReportOut
from models.moderation import reports

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.post("")
@tag(["reports"])
@auth_required
@validate_request(ReportIn)
@document_response(ReportOut, 201)
@errors(404, 409)
async def create(data: ReportIn):
    """201 the report. One open report per reporter and target (409 `report_exists`); yourself or
    your own post: 400 `cannot_report_self`; an unknown or invisible target: 404."""
    return await reports.create(
        svc(),
        reporter_id=g.user_id,
        target_type=data.target_type,
        target_id=data.target_id,
        reason=data.reason,
        client=client(),
    ), 201
