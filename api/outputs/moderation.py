"""Response bodies of reports and the moderators' cases."""

from __future__ import annotations

from api.outputs import Open, Page


class ReportOut(Open):
    id: str
    reporter_id: str
    target_type: str
    target_id: str
    reason: str
    status: str
    created_at: str
    resolved_at: str | None = None


ReportPage = Page[ReportOut]


class CaseOut(Open):
    id: str
    status: str


CasePage = Page[CaseOut]


class RestrictionOut(Open):
    action: str  # "suspend" | "ban"
    code: str  # account_suspended | account_banned (the code of the refusals)
    until: str | None = None  # null: a ban


class SanctionOut(Open):
    id: str
    action: str  # warn | strike | suspend | ban
    rule: str | None = None
    reason: str
    automatic: bool  # a suspension the strike policy added
    created_at: str
    until: str | None = None
    reverted_at: str | None = None
    active: bool


class StrikePolicyOut(Open):
    window_days: int
    strikes_per_suspension: int
    suspension_days: int


class RestrictionsOut(Open):
    restriction: RestrictionOut | None = None
    active_strikes: int
    strike_policy: StrikePolicyOut
    sanctions: list[SanctionOut]
