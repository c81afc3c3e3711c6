"""Auth request bodies (passwords, phones, passkeys), shared by REST and GraphQL."""

from __future__ import annotations

from typing import Literal

from pydantic import EmailStr, Field, field_validator, model_validator

from api.inputs import Strict
from models.core.digits import ascii_digits

PhoneField = Field(
    None, min_length=3, max_length=32, description="E.164 (+201001234567), or national digits of PHONE_DEFAULT_REGION"
)


def _digits(v):
    """Arabic-Indic digits (٠-٩) as typed on Egyptian keyboards read as ASCII, before validation."""
    return ascii_digits(v) if isinstance(v, str) else v


Password = Field(min_length=8, max_length=256)
Username = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")


class RegisterIn(Strict):
    email: EmailStr | None = Field(None, max_length=320)
    phone: str | None = Field(
        None, min_length=3, max_length=32, description="a claim on a phone, proven later by a code (needs an email)"
    )
    password: str = Password
    username: str = Username

    _phone_digits = field_validator("phone", mode="before")(_digits)

    @model_validator(mode="after")
    def _email_or_phone(self):
        if not self.email and not self.phone:
            raise ValueError("an email or a phone is required")
        return self


class LoginIn(Strict):
    email: str | None = Field(None, max_length=320)
    phone: str | None = PhoneField
    password: str = Field(max_length=256)

    _phone_digits = field_validator("phone", mode="before")(_digits)

    @model_validator(mode="after")
    def _email_xor_phone(self):
        if bool(self.email) == bool(self.phone):
            raise ValueError("give either an email or a phone")
        return self


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class PhoneIn(Strict):
    phone: str = Field(min_length=3, max_length=32)

    _phone_digits = field_validator("phone", mode="before")(_digits)


class PhoneCodeIn(PhoneIn):
    code: str = Field(
        min_length=4,
        max_length=16,
        pattern=r"^\+?[0-9]+$",
        description="OTP: the 6 digits; flash call: the calling number, or its last digits (٠-٩ accepted)",
    )
    # Used only when the proof opens a new phone-only account (no bearer token, nobody proved the phone).
    username: str | None = Field(None, min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")
    password: str | None = Field(None, min_length=8, max_length=256)

    _code_digits = field_validator("code", mode="before")(_digits)


class PasskeyRegisterIn(Strict):
    credential: dict = Field(description="the PublicKeyCredential of navigator.credentials.create(), as JSON")
    device_name: str | None = Field(None, max_length=100)


class PasskeyLoginOptionsIn(Strict):
    email: str | None = Field(None, max_length=320)
    phone: str | None = PhoneField

    _phone_digits = field_validator("phone", mode="before")(_digits)

    @model_validator(mode="after")
    def _one(self):
        if self.email and self.phone:
            raise ValueError("give an email or a phone, not both")
        return self


class PasskeyLoginIn(Strict):
    credential: dict = Field(description="the PublicKeyCredential of navigator.credentials.get(), as JSON")


class ForgotPasswordIn(Strict):
    email: EmailStr = Field(max_length=320)


class ResetPasswordIn(Strict):
    token: str = Field(min_length=10, max_length=1024, description="from the link of the reset mail")
    password: str = Password


class PhoneResetPasswordIn(PhoneIn):
    code: str = PhoneCodeIn.model_fields["code"]
    password: str = Password
    channel: Literal["otp", "flash_call"] = "otp"

    _code_digits = field_validator("code", mode="before")(_digits)


class ChangePasswordIn(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Password


class VerifyEmailIn(Strict):
    token: str = Field(min_length=10, max_length=1024, description="from the link of the verification mail")


class ReauthIn(Strict):
    password: str = Field(min_length=1, max_length=256)
