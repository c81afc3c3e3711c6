"""Expire abandoned Tus uploads: past Upload-Expires they turn `failed` (upload_expired) and their
bytes are deleted. Every API process runs this as a loop (models/media/uploads.UploadSweeper,
started by api/app.py); `python -m jobs.expire_uploads` runs one sweep by hand.
"""

from __future__ import annotations

import sys

from infra.services import Services
from infra.settings import get_settings
from jobs.environment import run_job
from models.media import uploads


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
