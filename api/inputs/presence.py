"""The presence-settings body (REST; GraphQL's setPresenceVisible takes a Boolean)."""

from __future__ import annotations

from api.inputs import Strict


class SettingsIn(Strict):
    visible: bool
