from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from quart import Blueprint
from quart_schema import tag, validate_request

from api.auth import svc
from models import users

bp = Blueprint("auth", __name__, url_prefix="/auth")
tag_auth = tag(["auth"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterIn(Strict):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=256)
    username: str = Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_.]+$")


class LoginIn(Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


@bp.post("/register")
@tag_auth
@validate_request(RegisterIn)
async def register(data: RegisterIn):
    """Create an account; answers with tokens like login."""
    user = await users.register(svc(), email=data.email, password=data.password, username=data.username)
    return await users.token_pair(svc(), user), 201


@bp.post("/login")
@tag_auth
@validate_request(LoginIn)
async def login(data: LoginIn):
    user = await users.authenticate(svc(), email=data.email, password=data.password)
    return await users.token_pair(svc(), user), 200
