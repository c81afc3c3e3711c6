"""Resolvers for users: user(id), profiles, trust scores, reports, roles and badges."""

from __future__ import annotations

from ariadne import EnumType, MutationType, ObjectType, QueryType
from quart import request

from api.auth import client, parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.graphql.resolvers.common import viewer as _viewer
from api.inputs.moderation import ReportIn, ReportsQuery
from api.inputs.users import ProfilePatchIn
from models.accounts import badges, profiles, roles, users
from models.moderation import reports, trust
from models.social import flows as social_flows

query, mutation = QueryType(), MutationType()
trust_type = ObjectType("TrustScore")
enums = [
    EnumType("Role", {r.upper(): r for r in roles.ROLES}),
    EnumType("ReportTargetType", {t.upper(): t for t in reports.TARGET_TYPES}),
    EnumType("ReportStatus", {s.upper(): s for s in ("open", *reports.OUTCOMES)}),
    EnumType("ReportOutcome", {o.upper(): o for o in reports.OUTCOMES}),
]


@query.field("user")
async def resolve_user(_, info, id):
    svc, viewer = info.context["svc"], _viewer(info)
    user_id = parse_id(id, "id")
    # 404 when unknown or hidden
    profile = await social_flows.view_profile(svc, viewer, user_id, base_url=request.host_url)
    user = await users.get_user(svc, user_id)
    # `profile` is picked up by User.profile (resolvers/core.py) instead of reading it again.
    return {**users.public(user), "email": user.email if user_id == viewer else None, "profile": profile}


@query.field("trustScore")
async def resolve_trust_score(_, info, user_id):
    return await trust.get_score(info.context["svc"], _user(info), parse_id(user_id, "userId"))


@trust_type.field("components")
async def resolve_components(score, info):
    return [{"name": name, **part} for name, part in score["components"].items()]


@query.field("reports")
async def resolve_reports(_, info, **args):
    svc = info.context["svc"]
    await roles.require(svc, _user(info), roles.STAFF)
    q = _validate(ReportsQuery, args)
    return await reports.list_reports(svc, status=q.status, cursor=q.cursor, limit=q.limit)


@mutation.field("updateProfile")
async def resolve_update_profile(_, info, input):
    data, me = _validate(ProfilePatchIn, input), _user(info)
    return await profiles.update_profile(
        info.context["svc"], actor_id=me, user_id=me, changes=data.changes(), client=client(), base_url=request.host_url
    )


@mutation.field("createReport")
async def resolve_create_report(_, info, input):
    data = _validate(ReportIn, input)
    return await reports.create(
        info.context["svc"],
        reporter_id=_user(info),
        target_type=data.target_type,
        target_id=data.target_id,
        reason=data.reason,
        client=client(),
    )


@mutation.field("resolveReport")
async def resolve_resolve_report(_, info, id, outcome):
    svc, me = info.context["svc"], _user(info)
    await roles.require(svc, me, roles.STAFF)
    return await reports.resolve(svc, report_id=parse_id(id, "id"), outcome=outcome, actor=me, client=client())


async def _admin(info):
    svc, me = info.context["svc"], _user(info)
    await roles.require(svc, me, ("admin",))
    return svc, me


@mutation.field("setRole")
async def resolve_set_role(_, info, user_id, role):
    svc, me = await _admin(info)
    return await roles.set_role(svc, user_id=parse_id(user_id, "userId"), role=role, actor=me, client=client())


@mutation.field("grantBadge")
async def resolve_grant_badge(_, info, user_id, badge):
    svc, me = await _admin(info)
    held, _new = await badges.grant(svc, user_id=parse_id(user_id, "userId"), badge=badge, actor=me, client=client())
    return held


@mutation.field("revokeBadge")
async def resolve_revoke_badge(_, info, user_id, badge):
    svc, me = await _admin(info)
    await badges.revoke(svc, user_id=parse_id(user_id, "userId"), badge=badge, actor=me, client=client())
    return True


bindables = [query, mutation, trust_type, *enums]
