"""PostgreSQL tables of the engagement store (the CQL store has its own schema in cql.py)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import BigInteger, Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from models.core.base import Base, utcnow


class ReactionEdge(Base):
    __tablename__ = "reaction_edges"
    post_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    last_event_id: Mapped[UUID] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PostCounter(Base):
    __tablename__ = "post_counters"
    post_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class FollowEdge(Base):
    __tablename__ = "follow_edges"
    follower_id: Mapped[UUID] = mapped_column(primary_key=True)
    followee_id: Mapped[UUID] = mapped_column(primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    last_event_id: Mapped[UUID] = mapped_column()
    since: Mapped[UUID] = mapped_column()  # event that last made it active: the lists' order
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserCounter(Base):
    __tablename__ = "user_counters"
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
