"""Request headers of the Tus upload routes (api/routes/tus.py), for /openapi.json: documented,
read by the routes themselves (the Tus protocol's own errors, not a 422)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TusHeadersIn(BaseModel):
    tus_resumable: str = Field(description="1.0.0")


class TusCreateHeadersIn(TusHeadersIn):
    upload_length: int = Field(description="the file's size in bytes")
    upload_metadata: str | None = Field(None, description="`key base64,key base64`: filename, filetype")
    upload_checksum: str | None = Field(None, description="`sha1 <base64 digest>` of the body, with a first chunk")


class TusPatchHeadersIn(TusHeadersIn):
    upload_offset: int = Field(description="where this chunk starts: the server's Upload-Offset")
    upload_checksum: str | None = Field(None, description="`sha1 <base64 digest>` of this chunk")
