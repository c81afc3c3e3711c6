"""Response bodies of /auth/* (api/routes/auth*.py, reauth.py)."""

from __future__ import annotations

from api.outputs import Open, Page


class UserOut(Open):
    id: str
    email: str | None = None
    username: str | None = None


class TokensOut(Open):
    """An opened session: bearer tokens (register, login, refresh, passwordless and reset logins)."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: UserOut


class SessionOut(Open):
    id: str
    created_at: str
    last_used_at: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    current: bool


SessionPage = Page[SessionOut]


class CodeSentOut(Open):
    """A code was sent (or would have been: the answer is alike either way)."""


class PhoneVerifiedOut(Open):
    """With a bearer token: the caller's phone proven; without one: a login (the token fields)."""


class PasskeyOut(Open):
    id: str
    credential_id: str
    device_name: str | None = None
    transports: list[str] | None = None
    backed_up: bool | None = None
    created_at: str
    last_used_at: str | None = None


PasskeyPage = Page[PasskeyOut]


class WebAuthnOptionsOut(Open):
    """PublicKeyCredentialCreationOptionsJSON / RequestOptionsJSON (WebAuthn Level 3)."""

    challenge: str


class AcceptedOut(Open):
    """Accepted: a mail or a code is on its way (alike whether or not an account matched)."""


class EmailVerifiedOut(Open):
    """The account's email is proven."""


class FreshOut(Open):
    fresh_until: int


class ConsentRecordOut(Open):
    version: str
    granted_at: str
    ended_at: str | None
    end_reason: str | None  # withdrawn | replaced


class ConsentGrantOut(ConsentRecordOut):
    purpose: str


class ConsentOut(Open):
    purpose: str
    description: str
    required: bool
    version: str  # of the current text
    granted: bool  # to the current version
    granted_version: str | None
    history: list[ConsentRecordOut]


class ConsentsOut(Open):
    items: list[ConsentOut]


class ExportQueuedOut(Open):
    id: str
    state: str  # pending


class ExportOut(Open):
    id: str
    state: str  # pending | running | ready | failed
    progress: int  # 0-100
    created_at: str
    finished_at: str | None
    expires_at: str | None  # of the download link
    download_url: str | None  # when ready and not expired


class DeletionOut(Open):
    state: str  # none | pending | erasing
    requested_at: str | None
    erase_after: str | None  # when the erasure starts; cancel before
