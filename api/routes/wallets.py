"""Wallet REST face (docs/wallet.md): wallets, tips, top-ups, cashouts, adjustments, history,
creator metrics, subscription plans and subscriptions. Amounts are integers in minor units
(piasters for EGP). Every money-moving POST needs an Idempotency-Key header."""

from __future__ import annotations

from quart import Blueprint, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from api.auth import auth_required, client, parse_id, svc
from api.inputs import PageIn
from api.inputs.wallet import MetricsIn, PlanIn, TipIn, TransactionIn
from api.outputs import errors
from api.outputs.wallet import (
    CashoutOut,
    MetricsOut,
    PaymentStartedOut,
    PlanOut,
    SubscriptionOut,
    SubscriptionPage,
    TopupOut,
    TransactionOut,
    TransactionPage,
    WalletOut,
)
from models.wallet import cashout, metrics, subscriptions, tips, topups, wallets

bp = Blueprint("wallets", __name__)
tag_wallet = tag(["wallet"])


def _key() -> str | None:
    return request.headers.get("Idempotency-Key")


@bp.get("/wallets/<user_id>")
@tag_wallet
@auth_required
@document_response(WalletOut)
@errors(404)
async def get_wallet(user_id: str):
    """{"user_id", "currency", "balance", "pending_cashout"}: the owner or an admin (others: 404)."""
    return await wallets.get_wallet(svc(), g.user_id, parse_id(user_id, "user_id"))


@bp.post("/wallets/tips")
@tag_wallet
@auth_required
@validate_request(TipIn)
@document_response(TransactionOut, 201)
@errors(403, 404, 409)
async def send_tip(data: TipIn):
    """Tip a creator from your wallet; PLATFORM_FEE_BPS goes to the platform, rounded down."""
    tx = await tips.send_tip(
        svc(),
        sender_id=g.user_id,
        to_user_id=data.to_user_id,
        amount=data.amount,
        post_id=data.post_id,
        message=data.message,
        idempotency_key=_key(),
    )
    return tx.public(), 201


@bp.post("/wallets/<user_id>/transactions")
@tag_wallet
@auth_required
@validate_request(TransactionIn)
@document_response(PaymentStartedOut, 202)
@document_response(TransactionOut, 201)
@errors(403, 404, 409)
async def create_transaction(user_id: str, data: TransactionIn):
    """Top-up (202, pending until Fawry confirms), cashout (202, pending until the provider
    confirms) or admin adjustment (201)."""
    uid = parse_id(user_id, "user_id")
    if data.type == "topup":
        return await topups.start_topup(
            svc(),
            actor_id=g.user_id,
            user_id=uid,
            amount=data.amount,
            provider=data.provider or "fawry",
            mobile=data.mobile,
            idempotency_key=_key(),
        ), 202
    if data.type == "cashout":
        return await cashout.request_cashout(
            svc(),
            actor_id=g.user_id,
            user_id=uid,
            amount=data.amount,
            provider=data.provider,
            destination=data.destination,
            idempotency_key=_key(),
            session_id=g.session_id,
        ), 202
    tx = await wallets.adjust(
        svc(),
        admin_id=g.user_id,
        user_id=uid,
        amount=data.amount,
        reason=data.reason,
        idempotency_key=_key(),
        client=client(),
    )
    return tx.public(), 201


@bp.get("/wallets/<user_id>/transactions")
@tag_wallet
@auth_required
@validate_querystring(PageIn)
@document_response(TransactionPage)
@errors(404)
async def list_transactions(user_id: str, query_args: PageIn):
    """The wallet's movements, newest first: {"items", "next_cursor"}."""
    return await wallets.list_transactions(
        svc(), g.user_id, parse_id(user_id, "user_id"), cursor=query_args.cursor, limit=query_args.limit
    )


@bp.get("/wallets/<user_id>/topups/<topup_id>")
@tag_wallet
@auth_required
@document_response(TopupOut)
@errors(404)
async def get_topup(user_id: str, topup_id: str):
    """A top-up; while pending, Fawry's payment status is checked first."""
    return await topups.get_topup(
        svc(), viewer_id=g.user_id, user_id=parse_id(user_id, "user_id"), topup_id=parse_id(topup_id, "topup_id")
    )


@bp.get("/wallets/<user_id>/cashouts/<cashout_id>")
@tag_wallet
@auth_required
@document_response(CashoutOut)
@errors(404)
async def get_cashout(user_id: str, cashout_id: str):
    return await cashout.get_cashout(
        svc(), viewer_id=g.user_id, user_id=parse_id(user_id, "user_id"), cashout_id=parse_id(cashout_id, "cashout_id")
    )


@bp.get("/wallets/<user_id>/metrics")
@tag_wallet
@auth_required
@validate_querystring(MetricsIn)
@document_response(MetricsOut)
@errors(404)
async def creator_metrics(user_id: str, query_args: MetricsIn):
    """Earnings by day and source, tips, new and active subscribers: the creator or an admin."""
    return await metrics.creator_metrics(
        svc(), viewer_id=g.user_id, creator_id=parse_id(user_id, "user_id"), days=query_args.days
    )


@bp.get("/wallets/<user_id>/subscriptions")
@tag_wallet
@auth_required
@document_response(SubscriptionPage)
@errors(404)
async def list_subscriptions(user_id: str):
    """Your subscriptions to creators (someone else's: 404)."""
    items = await subscriptions.list_subscriptions(
        svc(), viewer_id=g.user_id, subscriber_id=parse_id(user_id, "user_id")
    )
    return {"items": items, "next_cursor": None}


@bp.put("/creators/<creator_id>/subscription-plan")
@tag_wallet
@auth_required
@validate_request(PlanIn)
@document_response(PlanOut)
@errors(403)
async def set_plan(creator_id: str, data: PlanIn):
    """Set your own plan (price per period); it applies to new subscriptions."""
    return await subscriptions.set_plan(
        svc(),
        actor_id=g.user_id,
        creator_id=parse_id(creator_id, "creator_id"),
        price=data.price,
        period_days=data.period_days,
        active=data.active,
    )


@bp.get("/creators/<creator_id>/subscription-plan")
@tag_wallet
@auth_required
@document_response(PlanOut)
@errors(404)
async def get_plan(creator_id: str):
    return await subscriptions.get_plan(svc(), parse_id(creator_id, "creator_id"))


@bp.post("/creators/<creator_id>/subscriptions")
@tag_wallet
@auth_required
@document_response(SubscriptionOut, 201)
@errors(403, 404, 409)
async def subscribe(creator_id: str):
    """Subscribe: the first period is charged now (Idempotency-Key required)."""
    return await subscriptions.subscribe(
        svc(), subscriber_id=g.user_id, creator_id=parse_id(creator_id, "creator_id"), idempotency_key=_key()
    ), 201


@bp.delete("/creators/<creator_id>/subscriptions")
@tag_wallet
@auth_required
@document_response(SubscriptionOut)
@errors(404)
async def cancel_subscription(creator_id: str):
    """Cancel yours: access lasts until the paid period ends, nothing more is charged."""
    return await subscriptions.cancel(svc(), subscriber_id=g.user_id, creator_id=parse_id(creator_id, "creator_id"))
