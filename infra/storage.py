"""Object storage behind one interface: a local folder (default) or S3 / Cloudflare R2 (boto3).

Keys are relative, '/'-separated paths (`originals/<id>`, `videos/<id>/<set>/240p/seg_00000.ts`).
The local folder is served by the API (api/routes/media.py); S3 objects are linked by presigned
GET URLs, or under MEDIA_CDN_URL for public videos. boto3 is blocking: every call runs in a
thread. Large files go up in parts (TransferConfig, S3_MULTIPART_BYTES per part).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from infra.settings import Settings

_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
}


class ObjectMissing(KeyError):
    """No object under this key."""


def check_key(key: str) -> str:
    """Refuse keys that could leave the store's root (.., absolute paths, odd characters)."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"bad storage key {key!r}")
    return key


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/octet-stream")


class Storage(Protocol):
    kind: str

    async def put_file(self, key: str, path: Path, *, move: bool = False) -> None: ...
    async def put_bytes(self, key: str, data: bytes) -> None: ...
    async def get_bytes(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def list(self, prefix: str) -> list[str]: ...

    def local_copy(self, key: str, work_dir: Path) -> contextlib.AbstractAsyncContextManager[Path]:
        """A local file with the object's bytes for the duration of the block."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file holding the object when the API serves it itself (local store), else None."""
        ...

    async def url(self, key: str, *, expires: int, public: bool = False) -> str | None:
        """A URL a player can GET without headers (CDN for public objects, else presigned),
        or None when the API serves the object."""
        ...


class LocalStorage:
    kind = "local"

    def __init__(self, root: Path | str):
        self.root = Path(root).absolute()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        await asyncio.to_thread(self._put_file, self._path(key), Path(path), move)

    @staticmethod
    def _put_file(dest: Path, src: Path, move: bool) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(src, dest)  # a rename on the same filesystem
            return
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put_bytes, self._path(key), data)

    @staticmethod
    def _put_bytes(dest: Path, data: bytes) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)  # readers never see half a file

    async def get_bytes(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectMissing(key) from None

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, prefix)

    def _delete_prefix(self, prefix: str) -> int:
        keys = self._list(prefix)
        for k in keys:
            self._path(k).unlink(missing_ok=True)
        if prefix.endswith("/") and (d := self._path(prefix.rstrip("/"))).is_dir():
            shutil.rmtree(d, ignore_errors=True)
        return len(keys)

    async def list(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:  # `list` is the method here
        base = self.root / (prefix.rsplit("/", 1)[0] if "/" in prefix else "")
        if not base.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in found if k.startswith(prefix) and not k.rsplit("/", 1)[-1].startswith("."))

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str, work_dir: Path) -> AsyncIterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise ObjectMissing(key)
        yield path

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def url(self, key: str, *, expires: int, public: bool = False) -> str | None:
        return None


class S3Storage:
    kind = "s3"

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        access_key: str = "",
        secret_key: str = "",
        region: str = "us-east-1",
        cdn_url: str = "",
        multipart_bytes: int = 16 * 1024**2,
    ):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket, self.cdn_url = bucket, cdn_url.rstrip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=16,
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_bytes, multipart_chunksize=multipart_bytes, max_concurrency=4
        )

    async def put_file(self, key: str, path: Path, *, move: bool = False) -> None:
        await asyncio.to_thread(
            self.client.upload_file,
            str(path),
            self.bucket,
            check_key(key),
            ExtraArgs={"ContentType": content_type(key)},
            Config=self.transfer,
        )
        if move:
            Path(path).unlink(missing_ok=True)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type(key)
        )

    async def get_bytes(self, key: str) -> bytes:
        def get() -> bytes:
            try:
                return self.client.get_object(Bucket=self.bucket, Key=check_key(key))["Body"].read()
            except self.client.exceptions.NoSuchKey:
                raise ObjectMissing(key) from None

        return await asyncio.to_thread(get)

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=check_key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=check_key(key))

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list(prefix)
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            await asyncio.to_thread(
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
            )
        return len(keys)

    async def list(self, prefix: str) -> list[str]:
        def keys() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))

        return await asyncio.to_thread(keys)

    @contextlib.asynccontextmanager
    async def local_copy(self, key: str, work_dir: Path) -> AsyncIterator[Path]:
        from botocore.exceptions import ClientError

        Path(work_dir).mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=work_dir, prefix="object-")
        os.close(fd)
        path = Path(name)
        try:
            try:
                await asyncio.to_thread(
                    self.client.download_file, self.bucket, check_key(key), name, Config=self.transfer
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    raise ObjectMissing(key) from None
                raise
            yield path
        finally:
            path.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return None

    async def url(self, key: str, *, expires: int, public: bool = False) -> str | None:
        if public and self.cdn_url:
            return f"{self.cdn_url}/{check_key(key)}"
        return await asyncio.to_thread(
            self.client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": check_key(key)},
            ExpiresIn=expires,
        )


def make_storage(settings: Settings) -> Storage:
    if settings.s3_endpoint:
        return S3Storage(
            endpoint=settings.s3_endpoint,
            bucket=settings.s3_bucket,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
            cdn_url=settings.media_cdn_url,
            multipart_bytes=settings.s3_multipart_bytes,
        )
    return LocalStorage(settings.media_dir)


_current: tuple[Settings, Storage] | None = None


def storage_for(settings: Settings) -> Storage:
    """The process's store for these settings (one boto3 client per process)."""
    global _current
    if _current is None or _current[0] is not settings:
        _current = (settings, make_storage(settings))
    return _current[1]
