"""Tus uploads at /media/upload and the status of the video they make."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from tusclient import client as tus_client


def tus_upload(api: str, user: dict, path: Path, **kw) -> tus_client.Uploader:
    stop_at = kw.pop("stop_at", None)
    c = tus_client.TusClient(f"{api}/media/upload", headers=user["headers"])
    up = c.uploader(file_path=str(path), **kw)
    up.upload(stop_at=stop_at)
    return up


def vid(url: str) -> str:
    """The video id at the end of an upload URL."""
    return urlparse(url).path.rsplit("/", 1)[1]


async def status(client, user, video_id: str) -> dict:
    r = await client.get(f"/media/{video_id}/status", headers=user["headers"])
    assert r.status_code == 200, r.text
    return r.json()
