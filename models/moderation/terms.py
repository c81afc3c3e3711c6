"""The term list moderators maintain beside the models (docs/moderation.md#terms).

A term is a word or phrase with a language (ar | en), a label and an action (reject | review).
It matches whole words of a text in two forms:
- exact: the text's words case-folded, as typed;
- normalised: models/core/text.normalize (alef forms, ى/ي, ة/ه, diacritics, tatweel, digits)
  and runs of three or more of one letter cut to one ("غبييييي" -> "غبي"); an Arabic term also
  matches after the proclitics و ف ب ك ل ال وال بال فال كال لل يا ("والحمار", "ياحمار").

The list is cached per process and reloaded when its version in Redis
(`moderation:terms:version`, bumped by every add and remove) differs: an edit takes effect on
every API process at its next check. Staff only (models/accounts/roles.STAFF); audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from models.core import audit, cursors
from models.core.audit import Client
from models.core.base import Base, CreatedAt, utcnow
from models.core.errors import Conflict, DomainError, NotFound
from models.core.events import new_id
from models.core.text import normalize

if TYPE_CHECKING:
    from infra.services import Services

LANGUAGES = ("ar", "en")
ACTIONS = ("reject", "review")
MAX_TERM = 100
VERSION_KEY = "moderation:terms:version"
LABEL = re.compile(r"^[a-z][a-z_]{1,31}$")
_RUNS = re.compile(r"(\w)\1{2,}")
_WORD = re.compile(r"\w+")
PROCLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "يا", "و", "ف", "ب", "ك", "ل")


class TermNotFound(NotFound):
    code = "term_not_found"


class Term(CreatedAt, Base):
    __tablename__ = "moderation_terms"
    __table_args__ = (
        UniqueConstraint("normalized", "language"),
        CheckConstraint(f"language IN {LANGUAGES}", name="language"),
        CheckConstraint(f"action IN {ACTIONS}", name="action"),
    )
    id: Mapped[UUID] = mapped_column(primary_key=True, default=new_id)
    term: Mapped[str] = mapped_column(String(MAX_TERM))
    normalized: Mapped[str] = mapped_column(String(MAX_TERM))
    language: Mapped[str] = mapped_column(String(2))
    label: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(10))
    added_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


def normal_form(text: str) -> str:
    """The normalised form terms and texts are compared in (module docstring)."""
    return _RUNS.sub(r"\1", normalize(text))


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


@dataclass(frozen=True)
class Hit:
    label: str
    action: str
    term_id: UUID


@dataclass(frozen=True)
class _Entry:
    words: tuple[str, ...]
    arabic: bool
    hit: Hit


def _contains(words: list[str], term: tuple[str, ...], arabic: bool) -> bool:
    n = len(term)
    for i in range(len(words) - n + 1):
        first, rest = words[i], words[i + 1 : i + n]
        if tuple(rest) != term[1:]:
            continue
        if first == term[0] or (arabic and any(first == p + term[0] for p in PROCLITICS)):
            return True
    return False


class Matcher:
    def __init__(self, rows: list[Term]):
        self.exact: list[_Entry] = []
        self.normal: list[_Entry] = []
        for t in rows:
            hit = Hit(t.label, t.action, t.id)
            arabic = t.language == "ar"
            self.exact.append(_Entry(tuple(_words(t.term.casefold())), arabic, hit))
            self.normal.append(_Entry(tuple(_words(t.normalized)), arabic, hit))

    def hits(self, text: str) -> list[Hit]:
        exact, normal = _words(text.casefold()), _words(normal_form(text))
        found: dict[UUID, Hit] = {}
        for entries, words in ((self.exact, exact), (self.normal, normal)):
            for e in entries:
                if e.words and e.hit.term_id not in found and _contains(words, e.words, e.arabic):
                    found[e.hit.term_id] = e.hit
        return list(found.values())


_cache: dict[str, object] = {}


async def matcher(svc: Services) -> Matcher:
    """The current list, reloaded when another process (or this one) changed it."""
    version = await svc.redis.get(VERSION_KEY)
    version = version.decode() if isinstance(version, bytes) else str(version)
    cached = _cache.get("matcher")
    if cached is not None and _cache.get("version") == version:
        return cached  # type: ignore[return-value]
    async with svc.sessions() as s:
        rows = list((await s.execute(select(Term))).scalars())
    m = Matcher(rows)
    _cache.update(matcher=m, version=version)
    return m


async def hits(svc: Services, text: str) -> list[Hit]:
    return (await matcher(svc)).hits(text)


def public(t: Term) -> dict:
    return {
        "id": str(t.id),
        "term": t.term,
        "normalized": t.normalized,
        "language": t.language,
        "label": t.label,
        "action": t.action,
        "added_by": str(t.added_by) if t.added_by else None,
        "created_at": t.created_at.isoformat(),
    }


async def list_terms(
    svc: Services, *, language: str | None = None, cursor: str | None = None, limit: int = 100
) -> dict:
    """{"items", "next_cursor"}: oldest first."""
    q = select(Term).order_by(Term.id).limit(limit + 1)
    if language:
        q = q.where(Term.language == language)
    if cursor:
        q = q.where(Term.id > cursors.decode_ids(cursor, 1)[0])
    async with svc.sessions() as s:
        rows = list((await s.execute(q)).scalars())
    more, rows = len(rows) > limit, rows[:limit]
    return {
        "items": [public(t) for t in rows],
        "next_cursor": cursors.encode_ids(rows[-1].id) if more and rows else None,
    }


async def _bump(svc: Services) -> None:
    await svc.redis.incr(VERSION_KEY)


async def add_term(
    svc: Services, *, term: str, language: str, label: str, action: str, actor: UUID, client: Client | None = None
) -> dict:
    """409 `term_exists` when its normalised form is already listed for that language."""
    term = " ".join(term.split())
    if not term or len(term) > MAX_TERM:
        raise DomainError(f"a term has 1-{MAX_TERM} characters", code="validation_error")
    if language not in LANGUAGES:
        raise DomainError("language is ar or en", code="validation_error")
    if action not in ACTIONS:
        raise DomainError("action is reject or review", code="validation_error")
    if not LABEL.match(label):
        raise DomainError("a label is 2-32 lower-case letters or _", code="validation_error")
    normalized = normal_form(term)
    if not _words(normalized):
        raise DomainError("a term needs at least one letter or digit", code="validation_error")
    row = Term(
        id=new_id(),
        term=term,
        normalized=normalized,
        language=language,
        label=label,
        action=action,
        added_by=actor,
        created_at=utcnow(),
    )
    try:
        async with svc.sessions() as s, s.begin():
            s.add(row)
            await s.flush()
            audit.stage(
                s,
                "moderation.term_added",
                client,
                actor=actor,
                subject=f"term:{row.id}",
                details={"language": language, "label": label, "action": action},
            )
    except IntegrityError as e:
        raise Conflict("this term is already listed", code="term_exists") from e
    await _bump(svc)
    return public(row)


async def remove_term(svc: Services, *, term_id: UUID, actor: UUID, client: Client | None = None) -> None:
    async with svc.sessions() as s, s.begin():
        gone = (await s.execute(delete(Term).where(Term.id == term_id).returning(Term.id))).first()
        if gone is None:
            raise TermNotFound("no such term")
        audit.stage(s, "moderation.term_removed", client, actor=actor, subject=f"term:{term_id}")
    await _bump(svc)
