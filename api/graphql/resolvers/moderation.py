"""Resolvers for the moderators' queue (REST: /admin/moderation; inputs: api/inputs/moderation.py)."""

from __future__ import annotations

from ariadne import EnumType, MutationType, QueryType
from quart import request

from api.auth import client, parse_id
from api.graphql.resolvers.common import current_user, validate
from api.inputs.moderation import CasesQuery, DecideIn, HeldImagesQuery
from models.accounts import roles
from models.moderation import cases, image_review

query, mutation = QueryType(), MutationType()
enums = [
    EnumType("ModerationCaseStatus", {s.upper(): s for s in cases.STATUSES}),
    EnumType("ModerationDecision", {d.upper(): d for d in cases.DECISIONS}),
    EnumType("AutomaticDecision", {d.upper(): d for d in set(cases.AUTOMATIC.values())}),
]


async def _staff(info):
    svc, me = info.context["svc"], current_user(info)
    await roles.require(svc, me, roles.STAFF)
    return svc, me


@query.field("moderationCases")
async def resolve_moderation_cases(_, info, **args):
    svc, _me = await _staff(info)
    q = validate(CasesQuery, args)
    return await cases.list_cases(svc, status=q.status, cursor=q.cursor, limit=q.limit, base_url=request.host_url)


@mutation.field("decideModerationCase")
async def resolve_decide_moderation_case(_, info, id, decision, note=None):
    svc, me = await _staff(info)
    data = validate(DecideIn, {"decision": decision, "note": note})
    return await cases.decide(
        svc,
        case_id=parse_id(id, "id"),
        decision=data.decision,
        note=data.note,
        actor=me,
        client=client(),
        base_url=request.host_url,
    )


@query.field("heldImages")
async def resolve_held_images(_, info, **args):
    svc, _me = await _staff(info)
    q = validate(HeldImagesQuery, args)
    return await image_review.held(svc, cursor=q.cursor, limit=q.limit, base_url=request.host_url)


@mutation.field("decideHeldImage")
async def resolve_decide_held_image(_, info, id, decision, note=None):
    svc, me = await _staff(info)
    data = validate(DecideIn, {"decision": decision, "note": note})
    return await image_review.decide(
        svc, image_id=parse_id(id, "id"), decision=data.decision, note=data.note, actor=me, client=client()
    )


bindables = [query, mutation, *enums]
