"""Resolvers for content checks and the term list (REST: api/routes/checks.py; inputs: api/inputs/checks.py)."""

from __future__ import annotations

from ariadne import EnumType, MutationType, QueryType

from api.auth import client, parse_id
from api.graphql.resolvers.common import current_user, validate
from api.inputs.checks import CheckContentIn, TermIn, TermsQuery
from models.accounts import roles
from models.moderation import checks, terms

query, mutation = QueryType(), MutationType()
enums = [
    EnumType("ContentVerdict", {v.upper(): v for v in ("allow", "review", "reject")}),
    EnumType("ModerationTermLanguage", {v.upper(): v for v in terms.LANGUAGES}),
    EnumType("ModerationTermAction", {v.upper(): v for v in terms.ACTIONS}),
]


async def _staff(info):
    svc, me = info.context["svc"], current_user(info)
    await roles.require(svc, me, roles.STAFF)
    return svc, me


@mutation.field("checkContent")
async def resolve_check_content(_, info, text=None, media_id=None):
    me = current_user(info)
    data = validate(CheckContentIn, {"text": text, "media_id": media_id})
    return await checks.check_content(info.context["svc"], user_id=me, text=data.text, media_id=data.media_id)


@query.field("moderationTerms")
async def resolve_moderation_terms(_, info, language=None, cursor=None, limit=100):
    svc, _me = await _staff(info)
    q = validate(TermsQuery, {"language": language, "cursor": cursor, "limit": limit})
    return await terms.list_terms(svc, language=q.language, cursor=q.cursor, limit=q.limit)


@mutation.field("addModerationTerm")
async def resolve_add_moderation_term(_, info, term, language, label, action):
    svc, me = await _staff(info)
    data = validate(TermIn, {"term": term, "language": language, "label": label, "action": action})
    return await terms.add_term(
        svc, term=data.term, language=data.language, label=data.label, action=data.action, actor=me, client=client()
    )


@mutation.field("removeModerationTerm")
async def resolve_remove_moderation_term(_, info, id):
    svc, me = await _staff(info)
    await terms.remove_term(svc, term_id=parse_id(id, "id"), actor=me, client=client())
    return True


bindables = [query, mutation, *enums]
