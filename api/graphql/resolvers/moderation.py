"""Resolvers for the moderators' queue (REST: /admin/moderation; inputs: api/inputs/moderation.py)."""

from __future__ import annotations

import orjson
from ariadne import EnumType, MutationType, QueryType
from quart import request

from api.auth import client, parse_id
from api.graphql.resolvers.common import current_user, validate
from api.inputs.moderation import (
    AppealIn,
    CasesQuery,
    DecideIn,
    DecisionIn,
    HeldImagesQuery,
    ModerationReportIn,
    QueueQuery,
)
from models.accounts import roles
from models.moderation import cases, decisions, image_review, queue

query, mutation = QueryType(), MutationType()
enums = [
    EnumType("ModerationCaseStatus", {s.upper(): s for s in cases.STATUSES}),
    EnumType("ModerationDecision", {d.upper(): d for d in cases.DECISIONS}),
    EnumType("AutomaticDecision", {d.upper(): d for d in set(cases.AUTOMATIC.values())}),
    EnumType("CaseState", {s.upper(): s for s in queue.STATES}),
    EnumType("CaseAction", {a.upper(): a for a in decisions.ACTIONS}),
    EnumType("ModerationTargetType", {t.upper(): t for t in ("post", "comment", "message", "user")}),
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


# ---------------------------------------------------------------- the one queue: staff checks in the domain


@query.field("moderationQueue")
async def resolve_moderation_queue(_, info, **args):
    q = validate(QueueQuery, args)
    return await queue.list_queue(
        info.context["svc"], current_user(info), state=q.state, cursor=q.cursor, limit=q.limit
    )


@query.field("moderationCase")
async def resolve_moderation_case(_, info, id):
    case = await decisions.get_case(
        info.context["svc"], current_user(info), parse_id(id, "id"), base_url=request.host_url
    )
    return {**case, "content": orjson.dumps(case["content"]).decode() if case["content"] is not None else None}


@query.field("reportReasons")
async def resolve_report_reasons(_, info):
    current_user(info)
    return queue.reasons()


@query.field("myModeration")
async def resolve_my_moderation(_, info):
    return (await decisions.history(info.context["svc"], current_user(info)))["items"]


@mutation.field("reportContent")
async def resolve_report_content(_, info, target_type, target_id, reason, details=None):
    data = validate(
        ModerationReportIn, {"target_type": target_type, "target_id": target_id, "reason": reason, "details": details}
    )
    return await queue.report(
        info.context["svc"],
        reporter_id=current_user(info),
        target_type=data.target_type,
        target_id=data.target_id,
        reason=data.reason,
        details=data.details,
        client=client(),
    )


@mutation.field("claimCase")
async def resolve_claim_case(_, info, id):
    return await queue.claim(info.context["svc"], current_user(info), parse_id(id, "id"), client=client())


@mutation.field("decideCase")
async def resolve_decide_case(_, info, id, action, reason, rule=None, duration_hours=None):
    me = current_user(info)
    case_id = parse_id(id, "id")
    await queue.require_staff(info.context["svc"], me)  # before validating: non-staff learn nothing
    data = validate(DecisionIn, {"action": action, "reason": reason, "rule": rule, "duration_hours": duration_hours})
    return await decisions.decide(
        info.context["svc"],
        actor=me,
        case_id=case_id,
        action=data.action,
        reason=data.reason,
        rule=data.rule,
        duration_hours=data.duration_hours,
        client=client(),
    )


@mutation.field("appealDecision")
async def resolve_appeal_decision(_, info, id, text):
    data = validate(AppealIn, {"text": text})
    return await decisions.appeal(
        info.context["svc"], user_id=current_user(info), decision_id=parse_id(id, "id"), text=data.text, client=client()
    )


bindables = [query, mutation, *enums]
