"""Staff endpoints: roles and badges (admins), the report queue (moderators and admins)."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import client, parse_id, role_required, svc
from api.inputs.moderation import ReportsQuery, ResolveIn
from api.inputs.users import RoleIn
from api.outputs import NoContent, errors
from api.outputs.moderation import ReportOut, ReportPage
from api.outputs.social import BadgesOut, RoleOut
from models.accounts import badges, roles
from models.moderation import reports

bp = Blueprint("admin", __name__, url_prefix="/admin")
tag_admin = tag(["admin"])


@bp.put("/users/<user_id>/role")
@tag_admin
@role_required("admin")
@validate_request(RoleIn)
@document_response(RoleOut)
@errors(404, 409)
async def set_role(user_id: str, data: RoleIn):
    """Admins only. Takes effect on the user's next request (ROLE_CACHE_TTL at most); demoting
    the last admin is 409 `last_admin`."""
    return await roles.set_role(
        svc(), user_id=parse_id(user_id, "user_id"), role=data.role, actor=g.user_id, client=client()
    )


@bp.post("/users/<user_id>/badges/<badge>")
@tag_admin
@role_required("admin")
@document_response(BadgesOut, 201)
@document_response(BadgesOut)
@errors(404)
async def grant_badge(user_id: str, badge: str):
    """201 when granted, 200 when the user already held it."""
    held, new = await badges.grant(
        svc(), user_id=parse_id(user_id, "user_id"), badge=badge, actor=g.user_id, client=client()
    )
    return held, 201 if new else 200


@bp.delete("/users/<user_id>/badges/<badge>")
@tag_admin
@role_required("admin")
@document_response(NoContent, 204)
@errors(404)
async def revoke_badge(user_id: str, badge: str):
    await badges.revoke(svc(), user_id=parse_id(user_id, "user_id"), badge=badge, actor=g.user_id, client=client())
    return "", 204


@bp.get("/reports")
@tag_admin
@role_required(*roles.STAFF)
@validate_querystring(ReportsQuery)
@document_response(ReportPage)
async def list_reports(query_args: ReportsQuery):
    """Open reports first (oldest first), then resolved ones (newest first); cursor-paginated."""
    return await reports.list_reports(svc(), status=query_args.status, cursor=query_args.cursor, limit=query_args.limit)


@bp.post("/reports/<report_id>/resolve")
@tag_admin
@role_required(*roles.STAFF)
@validate_request(ResolveIn)
@document_response(ReportOut)
@errors(404, 409)
async def resolve_report(report_id: str, data: ResolveIn):
    return await reports.resolve(
        svc(), report_id=parse_id(report_id, "report_id"), outcome=data.outcome, actor=g.user_id, client=client()
    )
