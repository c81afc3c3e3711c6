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
