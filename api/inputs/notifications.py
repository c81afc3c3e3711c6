"""The notifications' mark-read body, shared by REST and GraphQL."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, model_validator

from api.inputs import Strict


class ReadIn(Strict):
    ids: list[UUID] | None = Field(None, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one(self):
        if bool(self.ids) == self.all:
            raise ValueError('give either "ids" or "all": true')
        return self
