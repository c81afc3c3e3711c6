"""Resolvers for PDPL rights (sdl/privacy.graphql): the same domain functions as /users/me/consents."""

from __future__ import annotations

from ariadne import MutationType, QueryType
from quart import request

from api.auth import client, parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs.users import ConsentIn, DeletionIn
from models.accounts import consents
from models.privacy import erasure, exports

query = QueryType()
mutation = MutationType()


@query.field("myConsents")
async def resolve_my_consents(_, info):
    return (await consents.overview(info.context["svc"], _user(info)))["items"]


@mutation.field("grantConsent")
async def resolve_grant_consent(_, info, purpose, version):
    data = _validate(ConsentIn, {"purpose": purpose, "version": version})
    return await consents.grant(info.context["svc"], _user(info), data.purpose, data.version, client())


@mutation.field("withdrawConsent")
async def resolve_withdraw_consent(_, info, purpose):
    return await consents.withdraw(info.context["svc"], _user(info), purpose, client())


@query.field("dataExport")
async def resolve_data_export(_, info, id):
    return await exports.status(info.context["svc"], _user(info), parse_id(id, "id"), base_url=request.host_url)


@mutation.field("requestDataExport")
async def resolve_request_data_export(_, info):
    return await exports.request(info.context["svc"], _user(info), client())


def _pending_or_user(info):
    """The caller, also while their account is being deleted (only these two fields allow it)."""
    return info.context.get("pending_deletion_user_id") or _user(info)


@query.field("accountDeletion")
async def resolve_account_deletion(_, info):
    return await erasure.status(info.context["svc"], _pending_or_user(info))


@mutation.field("requestAccountDeletion")
async def resolve_request_account_deletion(_, info, password=None, otp_code=None):
    data = _validate(DeletionIn, {"password": password, "otp_code": otp_code})
    return await erasure.request(
        info.context["svc"], _user(info), password=data.password, otp_code=data.otp_code, client=client()
    )


@mutation.field("cancelAccountDeletion")
async def resolve_cancel_account_deletion(_, info):
    return await erasure.cancel(info.context["svc"], _pending_or_user(info), client())


bindables = [query, mutation]
