"""Wallet resolvers: the same domain functions and input models (api/inputs/wallet.py) as REST."""

from __future__ import annotations

from ariadne import MutationType, QueryType, ScalarType

from api.auth import client, parse_id
from api.graphql.resolvers.common import current_user as _user
from api.graphql.resolvers.common import validate as _validate
from api.inputs import PageIn
from api.inputs.wallet import MetricsIn, PlanIn, TipIn, TransactionIn
from models.core.errors import DomainError
from models.wallet import cashout, metrics, subscriptions, tips, topups, wallets

query, mutation = QueryType(), MutationType()
minor_units, wallet_metadata = ScalarType("MinorUnits"), ScalarType("WalletMetadata")


@minor_units.serializer
def _serialize_minor(value) -> int:
    return int(value)


@minor_units.value_parser
def _parse_minor(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("MinorUnits is an integer number of minor units")
    return value


@wallet_metadata.serializer
def _serialize_metadata(value) -> dict:
    return value


def _svc(info):
    return info.context["svc"]


def _key(info) -> str | None:
    return info.context["idempotency_key"]


@query.field("wallet")
async def resolve_wallet(_, info, user_id):
    return await wallets.get_wallet(_svc(info), _user(info), parse_id(user_id, "userId"))


@query.field("walletTransactions")
async def resolve_wallet_transactions(_, info, user_id, cursor=None, limit=None, first=None, after=None):
    """`first`/`after` are the deprecated names of `limit`/`cursor` (one pagination style)."""
    if (first is not None and limit is not None) or (after is not None and cursor is not None):
        raise DomainError("use cursor and limit (first and after are their deprecated names)", code="validation_error")
    limit, cursor = limit if limit is not None else first, cursor if cursor is not None else after
    page = _validate(PageIn, {"limit": 50 if limit is None else limit, "cursor": cursor})
    return await wallets.list_transactions(
        _svc(info), _user(info), parse_id(user_id, "userId"), cursor=page.cursor, limit=page.limit
    )


@query.field("walletTopUp")
async def resolve_wallet_topup(_, info, user_id, id):
    return await topups.get_topup(
        _svc(info), viewer_id=_user(info), user_id=parse_id(user_id, "userId"), topup_id=parse_id(id, "id")
    )


@query.field("walletCashout")
async def resolve_wallet_cashout(_, info, user_id, id):
    return await cashout.get_cashout(
        _svc(info), viewer_id=_user(info), user_id=parse_id(user_id, "userId"), cashout_id=parse_id(id, "id")
    )


@query.field("creatorMetrics")
async def resolve_creator_metrics(_, info, user_id, days=30):
    data = _validate(MetricsIn, {"days": days})
    return await metrics.creator_metrics(
        _svc(info), viewer_id=_user(info), creator_id=parse_id(user_id, "userId"), days=data.days
    )


@query.field("subscriptionPlan")
async def resolve_subscription_plan(_, info, creator_id):
    _user(info)
    return await subscriptions.get_plan(_svc(info), parse_id(creator_id, "creatorId"))


@query.field("mySubscriptions")
async def resolve_my_subscriptions(_, info):
    me = _user(info)
    return await subscriptions.list_subscriptions(_svc(info), viewer_id=me, subscriber_id=me)


@mutation.field("sendTip")
async def resolve_send_tip(_, info, input):
    data = _validate(TipIn, input)
    tx = await tips.send_tip(
        _svc(info),
        sender_id=_user(info),
        to_user_id=data.to_user_id,
        amount=data.amount,
        post_id=data.post_id,
        message=data.message,
        idempotency_key=_key(info),
    )
    return tx.public()


@mutation.field("topUpWallet")
async def resolve_top_up(_, info, user_id, input):
    data = _validate(TransactionIn, {"type": "topup", "provider": "fawry", **input})
    return await topups.start_topup(
        _svc(info),
        actor_id=_user(info),
        user_id=parse_id(user_id, "userId"),
        amount=data.amount,
        provider=data.provider,
        mobile=data.mobile,
        idempotency_key=_key(info),
    )


@mutation.field("requestCashout")
async def resolve_request_cashout(_, info, user_id, input):
    data = _validate(TransactionIn, {"type": "cashout", **input})
    return await cashout.request_cashout(
        _svc(info),
        actor_id=_user(info),
        user_id=parse_id(user_id, "userId"),
        amount=data.amount,
        provider=data.provider,
        destination=data.destination,
        idempotency_key=_key(info),
        session_id=info.context["session_id"],
    )


@mutation.field("adjustWallet")
async def resolve_adjust_wallet(_, info, user_id, input):
    data = _validate(TransactionIn, {"type": "adjustment", **input})
    tx = await wallets.adjust(
        _svc(info),
        admin_id=_user(info),
        user_id=parse_id(user_id, "userId"),
        amount=data.amount,
        reason=data.reason,
        idempotency_key=_key(info),
        client=client(),
    )
    return tx.public()


@mutation.field("setSubscriptionPlan")
async def resolve_set_plan(_, info, input):
    data, me = _validate(PlanIn, input), _user(info)
    return await subscriptions.set_plan(
        _svc(info), actor_id=me, creator_id=me, price=data.price, period_days=data.period_days, active=data.active
    )


@mutation.field("subscribe")
async def resolve_subscribe(_, info, creator_id):
    return await subscriptions.subscribe(
        _svc(info), subscriber_id=_user(info), creator_id=parse_id(creator_id, "creatorId"), idempotency_key=_key(info)
    )


@mutation.field("cancelSubscription")
async def resolve_cancel_subscription(_, info, creator_id):
    return await subscriptions.cancel(
        _svc(info), subscriber_id=_user(info), creator_id=parse_id(creator_id, "creatorId")
    )


bindables = [query, mutation, minor_units, wallet_metadata]
