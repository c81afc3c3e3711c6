"""Auth request bodies (passwords, phones, passkeys), shared by REST and GraphQL."""

from __future__ import annotations

from pydantic import EmailStr, Field, model_validator

from api.inputs import Strict

PhoneField = Field(
    None, min_length=3, max_length=32, description="E.164 (+201001234567), or national digits of PHONE_DEFAULT_REGION"
)


class RegisterIn(Strict):
    email: EmailStr | None = Field(None, max_length=320)
    phone: str | None = PhoneField
    password: str = Field(min_length=8, max_length=256)
    username: str = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")

    @model_validator(mode="after")
    def _email_or_phone(self):
        if not self.email and not self.phone:
            raise ValueError("an email or a phone is required")
        return self


class LoginIn(Strict):
    email: str | None = Field(None, max_length=320)
    phone: str | None = PhoneField
    password: str = Field(max_length=256)

    @model_validator(mode="after")
    def _email_xor_phone(self):
        if bool(self.email) == bool(self.phone):
            raise ValueError("give either an email or a phone")
        return self


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class PhoneIn(Strict):
    phone: str = Field(min_length=3, max_length=32)


class PhoneCodeIn(PhoneIn):
    code: str = Field(
        min_length=4,
        max_length=16,
        pattern=r"^\+?[0-9]+$",
        description="OTP: the 6 digits; flash call: the calling number, or its last digits",
    )


class PasskeyRegisterIn(Strict):
    credential: dict = Field(description="the PublicKeyCredential of navigator.credentials.create(), as JSON")
    device_name: str | None = Field(None, max_length=100)


class PasskeyLoginOptionsIn(Strict):
    email: str | None = Field(None, max_length=320)
    phone: str | None = PhoneField

    @model_validator(mode="after")
    def _one(self):
        if self.email and self.phone:
            raise ValueError("give an email or a phone, not both")
        return self


class PasskeyLoginIn(Strict):
    credential: dict = Field(description="the PublicKeyCredential of navigator.credentials.get(), as JSON")


class ReauthIn(Strict):
    password: str = Field(min_length=1, max_length=256)
