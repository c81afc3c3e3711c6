"""Expire abandoned Tus uploads: past Upload-Expires they turn `failed` (upload_expired) and their
bytes are deleted. Every API process runs this as a loop (api/routes/tus.py, every
MEDIA_UPLOAD_SWEEP_INTERVAL seconds); `python -m jobs.expire_uploads` runs one sweep by hand.
"""
from __future__ import annotations

import asyncio
import logging
import sys

from infra.background import BackgroundLoop
from infra.services import Services
from infra.settings import get_settings
from jobs.environment import run_job
from models.media import uploads

log = logging.getLogger(__name__)


class UploadSweeper(BackgroundLoop):
    def __init__(self, svc):
        self.svc = svc

    async def _run(self) -> None:
        while True:
            try:
                if expired := await uploads.expire_uploads(self.svc):
                    log.info("expired uploads removed", extra={"count": expired})
            except Exception as exc:  # a database blip: the next sweep retries
                log.warning("upload sweep failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.svc.settings.media_upload_sweep_interval)


async def sweep() -> int:
    svc = await Services.start(get_settings(), relay=False)
    try:
        total = 0
        while n := await uploads.expire_uploads(svc):
            total += n
        return total
    finally:
        await svc.stop()


def main() -> int:
    return run_job("expire_uploads", lambda _: sweep(), lambda n: f"{n} upload(s) expired")


if __name__ == "__main__":
    sys.exit(main())
