"""Creator-metrics agent: committed ledger movements (`wallet.movements`, from the outbox) ->
earnings by day and source, tip counts, new subscribers (models/wallet/metrics.py). Effects are
keyed by ledger transaction id: redelivery and duplicates are no-ops."""

from __future__ import annotations

from models.core.events import Received
from models.core.topics import WALLET_MOVEMENTS, WalletMovementPayload
from models.wallet import metrics
from streams.batch import batch_agent


@batch_agent(WALLET_MOVEMENTS, name="creator_metrics", max_records=2000)
async def creator_metrics(events: list[Received[WalletMovementPayload]], svc) -> None:
    await metrics.apply(svc, events)
