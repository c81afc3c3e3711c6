"""Erasure agent: account.erasure_due -> the account's data is handled store by store under the
written rule (models/privacy/erasing.py). In the worker because the worker owns Qdrant.
Idempotent: every step finds nothing left on a redelivery, and an erased account is skipped."""

from __future__ import annotations

from models.core.events import Received
from models.core.topics import PRIVACY, ErasureDuePayload
from models.privacy import erasing
from streams.batch import batch_agent


@batch_agent(PRIVACY, name="erasure", max_records=1)
async def erasure(events: list[Received], svc) -> None:
    for e in events:
        if isinstance(e.payload, ErasureDuePayload):
            await erasing.erase(svc, e.payload.user_id)
