"""Profile and role request bodies, shared by REST and GraphQL."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field

from api.inputs import Strict
from models.accounts import profiles


class ProfilePatchIn(Strict):
    """Every field optional; a field sent as null is cleared, a field left out is kept."""

    display_name: (
        Annotated[
            str, Field(min_length=1, max_length=profiles.DISPLAY_NAME_MAX), AfterValidator(profiles.clean_display_name)
        ]
        | None
    ) = None
    bio: Annotated[str, Field(max_length=profiles.BIO_MAX), AfterValidator(profiles.clean_bio)] | None = None
    avatar_media_id: UUID | None = None  # one of your images (POST /media/images, PUT /users/me/avatar)
    cover_media_id: UUID | None = None
    language: Annotated[str, Field(max_length=35), AfterValidator(profiles.clean_language)] | None = None
    region: Annotated[str, Field(max_length=2), AfterValidator(profiles.clean_region)] | None = None

    def changes(self) -> dict:
        return {name: getattr(self, name) for name in self.model_fields_set}


class RoleIn(Strict):
    role: Literal["user", "moderator", "admin"]


class ConsentIn(Strict):
    """Agreeing to a purpose's text: the version the user was shown (GET /users/me/consents)."""

    purpose: str = Field(min_length=1, max_length=40)
    version: str = Field(min_length=1, max_length=20)


class DeletionIn(Strict):
    """Proof for deleting the account: the password, or a code sent to the proven phone (POST /auth/otp/send)."""

    password: str | None = Field(None, max_length=200)
    otp_code: str | None = Field(None, max_length=12)
