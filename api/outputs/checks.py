"""Response bodies of content checks and the term list."""

from __future__ import annotations

from api.outputs import Open, Page


class LabelOut(Open):
    label: str
    score: float


class CheckContentOut(Open):
    """allow | review | reject, and the labels that reached their review threshold, highest first."""

    verdict: str
    labels: list[LabelOut]


class TermOut(Open):
    id: str
    term: str
    normalized: str
    language: str
    label: str
    action: str
    added_by: str | None = None
    created_at: str


TermPage = Page[TermOut]
