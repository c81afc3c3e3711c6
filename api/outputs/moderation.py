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


class ReasonOut(Open):
    code: str
    label: str
    weight: float


class ReasonsOut(Open):
    items: list[ReasonOut]


class ModerationReportOut(ReportOut):
    case_id: str
    details: str | None = None


class QueueCaseOut(Open):
    id: str
    target_type: str
    target_id: str
    reasons: list[str]
    report_count: int
    flags: list[dict]
    severity: float
    state: str
    claimed_by: str | None = None


QueueCasePage = Page[QueueCaseOut]


class AppealOut(Open):
    id: str
    decision_id: str
    text: str
    outcome: str | None = None
    created_at: str


class DecisionOut(Open):
    id: str
    case_id: str
    action: str
    reason: str
    rule: str | None = None
    duration_hours: int | None = None
    status: str
    appeal_until: str | None = None
    appeal: AppealOut | None = None
    created_at: str


class QueueCaseDetailOut(QueueCaseOut):
    content: dict | None = None
    reports: list[dict]
    decisions: list[DecisionOut]


class ModerationHistoryOut(Open):
    items: list[DecisionOut]
