"""Data exports (PDPL art. 2): a user asks for their data, the worker builds a zip of JSON files
(one per section of models/privacy/archive.py) with progress, and a signed link that expires
opens it (docs/privacy.md).

The request commits a `data_exports` row and an `export.requested` event (outbox); the
data_exports agent builds the archive. One export at a time per user (a partial unique index):
a second request while one is pending or running is 409 `export_running` with its id. The
archive is deleted from object storage when its link expires (jobs/retention.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import logging
import time
import zipfile
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import orjson
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from infra.storage import storage_for
from models.core import audit, outbox
from models.core.audit import Client
from models.core.base import Base, utcnow
from models.core.errors import Conflict, NotFound
from models.core.events import Event, new_id
from models.privacy.archive import SECTIONS

if TYPE_CHECKING:
    from infra.services import Services
    from infra.settings import Settings

log = logging.getLogger(__name__)

REQUESTED = "export.requested"
RUNNING_STATES = ("pending", "running")


class DataExport(Base):
    __tablename__ = "data_exports"
    __table_args__ = (
        Index(
            "uq_data_exports_running",
            "user_id",
            unique=True,
            postgresql_where=text("state IN ('pending', 'running')"),
        ),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending running ready failed
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0-100
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # of the link
    object_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)


def object_key(user_id: UUID, export_id: UUID) -> str:
    return f"exports/{user_id}/{export_id}.zip"


# --- the link --------------------------------------------------------------------------------


def _mac(cfg: Settings, export_id: UUID, user_id: UUID, exp: int) -> str:
    key = hmac.new(cfg.jwt_secret.encode(), b"data-export-links", hashlib.sha256).digest()
    digest = hmac.new(key, f"{export_id}.{user_id}.{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sign(cfg: Settings, e: DataExport) -> str:
    assert e.expires_at is not None
    exp = int(e.expires_at.timestamp())
    return f"{exp}.{_mac(cfg, e.id, e.user_id, exp)}"


def _verify(cfg: Settings, e: DataExport, token: str | None) -> bool:
    exp, _, mac = (token or "").partition(".")
    if not exp.isdigit() or int(exp) < time.time():
        return False
    return hmac.compare_digest(mac, _mac(cfg, e.id, e.user_id, int(exp)))


# --- requests and status ----------------------------------------------------------------------


def _out(cfg: Settings, e: DataExport, base_url: str) -> dict:
    out: dict = {
        "id": str(e.id),
        "state": e.state,
        "progress": e.progress,
        "created_at": e.created_at.isoformat(),
        "finished_at": e.finished_at.isoformat() if e.finished_at else None,
        "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        "download_url": None,
    }
    if e.state == "ready" and e.expires_at and e.expires_at > utcnow():
        out["download_url"] = f"{base_url.rstrip('/')}/users/me/exports/{e.id}/download?token={sign(cfg, e)}"
    return out


async def request(svc: Services, user_id: UUID, client: Client | None = None) -> dict:
    """202 {"id"}: the export is queued. One at a time: 409 `export_running` with the running id."""
    export_id = new_id()
    try:
        async with outbox.transaction(svc) as s:
            s.add(DataExport(id=export_id, user_id=user_id, state="pending", progress=0, created_at=utcnow()))
            await s.flush()
            outbox.stage(s, Event(REQUESTED, {"export_id": str(export_id), "user_id": str(user_id)}, actor=user_id))
            audit.stage(s, "privacy.export_requested", client, actor=user_id, subject=f"user:{user_id}")
    except IntegrityError:
        async with svc.sessions() as s:
            running = await s.scalar(
                select(DataExport.id).where(DataExport.user_id == user_id, DataExport.state.in_(RUNNING_STATES))
            )
        raise Conflict(
            "an export of your data is already being prepared",
            code="export_running",
            details={"id": str(running) if running else None},
        ) from None
    return {"id": str(export_id), "state": "pending", "progress": 0}


async def _mine(svc: Services, user_id: UUID, export_id: UUID) -> DataExport:
    async with svc.sessions() as s:
        e = await s.get(DataExport, export_id)
    if e is None or e.user_id != user_id:  # someone else's is as absent as a missing one
        raise NotFound("no such export", code="export_not_found")
    return e


async def status(svc: Services, user_id: UUID, export_id: UUID, *, base_url: str) -> dict:
    return _out(svc.settings, await _mine(svc, user_id, export_id), base_url)


async def download(svc: Services, viewer_id: UUID | None, export_id: UUID, token: str | None) -> bytes:
    """The archive, for a valid unexpired link. The link alone opens it (a download manager has no
    bearer token); a bearer token of another user, an expired or forged link, or an archive
    already removed: 404 `export_not_found`, saying nothing of which."""
    async with svc.sessions() as s:
        e = await s.get(DataExport, export_id)
    if (
        e is None
        or e.state != "ready"
        or e.object_key is None
        or e.expires_at is None
        or e.expires_at <= utcnow()
        or (viewer_id is not None and viewer_id != e.user_id)
        or not _verify(svc.settings, e, token)
    ):
        raise NotFound("no such export, or its link expired", code="export_not_found")
    await audit.record(svc, "privacy.export_downloaded", None, actor=viewer_id, subject=f"user:{e.user_id}")
    return await storage_for(svc.settings).get_bytes(e.object_key)


# --- building (the data_exports agent) --------------------------------------------------------


async def _set(svc: Services, export_id: UUID, **values) -> None:
    async with svc.sessions() as s, s.begin():
        await s.execute(update(DataExport).where(DataExport.id == export_id).values(**values))


async def build(svc: Services, export_id: UUID) -> str | None:
    """Build one export's archive; idempotent (a redelivered request for a finished export does
    nothing). Two workers never build the same export: the builder holds a PostgreSQL advisory
    lock on its own connection for the whole build, which a crashed worker's connection drops,
    so the redelivery after a crash starts over. A failure marks the export `failed` with the
    reason, and the user may ask again. Returns the state it left."""
    key = int.from_bytes(export_id.bytes[:8], "big", signed=True)
    async with svc.sessions() as lock:
        if not await lock.scalar(select(func.pg_try_advisory_lock(key))):
            return "running"  # another worker builds it now
        try:
            return await _build(svc, export_id)
        finally:
            await lock.execute(select(func.pg_advisory_unlock(key)))


async def _build(svc: Services, export_id: UUID) -> str | None:
    async with svc.sessions() as s, s.begin():
        e = await s.get(DataExport, export_id, with_for_update=True)
        if e is None or e.state not in RUNNING_STATES:
            return e.state if e else None
        e.state, e.progress = "running", 0
        user_id = e.user_id
    try:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            names = list(SECTIONS)
            for i, name in enumerate(names, 1):
                async with svc.sessions() as s:
                    rows = await SECTIONS[name](s, svc, user_id)
                data = orjson.dumps(rows, option=orjson.OPT_INDENT_2)
                await asyncio.to_thread(zf.writestr, f"{name}.json", data)
                await _set(svc, export_id, progress=min(99, i * 100 // len(names)))
            zf.writestr(
                "README.txt",
                "Your D-A-I-R-A data, one JSON file per kind of record. docs/privacy.md explains each.\n",
            )
        key = object_key(user_id, export_id)
        await storage_for(svc.settings).put_bytes(key, buf.getvalue())
    except Exception as exc:
        log.exception("data export failed", extra={"export_id": str(export_id)})
        await _set(svc, export_id, state="failed", error=f"{type(exc).__name__}: {exc}"[:300], finished_at=utcnow())
        return "failed"
    now = utcnow()
    await _set(
        svc,
        export_id,
        state="ready",
        progress=100,
        object_key=key,
        finished_at=now,
        expires_at=now + svc.settings.export_link_ttl,
    )
    return "ready"


async def prune_expired(svc: Services, now: datetime, *, batch: int = 100) -> int:
    """Delete archives whose link expired (jobs/retention.py); the row stays as the record that
    the user obtained their data, without the file."""
    async with svc.sessions() as s:
        rows = (
            await s.execute(
                select(DataExport.id, DataExport.object_key)
                .where(DataExport.expires_at < now, DataExport.object_key.is_not(None))
                .limit(batch)
            )
        ).all()
    for export_id, key in rows:
        if key:
            await storage_for(svc.settings).delete(key)
        await _set(svc, export_id, object_key=None)
    return len(rows)
