"""Data exports agent: export.requested -> the user's archive is built (models/privacy/exports.py:
one JSON file per section, progress on the row, then a signed link). Idempotent: a redelivered
request of a finished export does nothing."""

from __future__ import annotations

from models.core.events import Received
from models.core.topics import PRIVACY, ExportRequestedPayload
from models.privacy import exports
from streams.batch import batch_agent


@batch_agent(PRIVACY, name="data_exports", max_records=10)
async def data_exports(events: list[Received], svc) -> None:
    for e in events:
        if isinstance(e.payload, ExportRequestedPayload):
            await exports.build(svc, e.payload.export_id)
