"""Every Kafka topic and the schema of every event on it: the one place to read.

Producers validate payloads against these models before sending; agents receive every event
validated against them (models/core/events.py `Received`, `decoder`).
`python -m models.core.topics` prints docs/topics.md (a test keeps them in sync).
Adding an event type: add its payload model and list it under its topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import UnionType
from typing import Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ConfigDict

ReactionType = Literal["like", "love", "laugh", "wow", "sad", "angry"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReactionPayload(Payload):
    post_id: UUID
    user_id: UUID
    type: ReactionType


class PostCreatedPayload(Payload):
    post_id: UUID
    author_id: UUID
    visibility: str
    caption: str
    video_id: UUID | None = None  # a post with a video appears to others once it is ready
    image_ids: list[UUID] | None = None  # a photo post: its images in order (models/content/post_images.py)
    circle_id: UUID | None = None  # set for visibility "circle"
    kind: Literal["post", "story"] = "post"
    expires_at: datetime | None = None  # stories: 24 h after they were made; then they exist for nobody
    # a duet or stitch: which range of which post's video it reuses (models/content/remixes.py)
    remix_type: Literal["duet", "stitch"] | None = None
    remix_source_post_id: UUID | None = None
    remix_source_author_id: UUID | None = None
    remix_start_ms: int | None = None
    remix_end_ms: int | None = None
    # parsed from the caption (models/core/text.py): normalised #tags, mentioned accounts' ids
    hashtags: list[str] = []
    mentions: list[UUID] = []


class PostEditedPayload(Payload):
    """The author changed the caption and/or the visibility (models/content/editing.py)."""

    post_id: UUID
    author_id: UUID
    caption: str
    visibility: str
    circle_id: UUID | None = None
    hashtags: list[str] = []
    mentions: list[UUID] = []
    new_mentions: list[UUID] = []  # mentioned now and not before the edit
    edited_at: datetime


class PostRemoved(Payload):
    """A moderator removed the post (models/moderation/decisions.py): it stays in PostgreSQL with
    visibility `removed`, seen by nobody; indexes (search, hashtag pages) drop it until a
    `post.restored`."""

    post_id: UUID
    author_id: UUID
    decision_id: UUID | None = None


class PostRestored(Payload):
    """A removed post is back (an overturned appeal, or a moderator's `restore`), with the
    visibility it had."""

    post_id: UUID
    author_id: UUID
    decision_id: UUID | None = None


class PostDeletedPayload(Payload):
    """The author deleted the post (the row and its comments, remix links and feedback are gone
    with it). Consumers drop what they derived from it: notifications, the recommendation index,
    trending; the video's files go from object storage (the video row went with the post)."""

    post_id: UUID
    author_id: UUID
    kind: Literal["post", "story"] = "post"
    video_id: UUID | None = None
    original_key: str | None = None  # the video's uploaded file; its renditions are under videos/<video_id>/
    image_ids: list[UUID] = []  # a photo post's images whose rows went with it; their files go after


class UserRegisteredPayload(Payload):
    user_id: UUID
    username: str


class UserPhoneVerifiedPayload(Payload):
    """The account proved it holds a phone (the number itself stays in PostgreSQL: PII)."""

    user_id: UUID
    method: Literal["otp", "flash_call"]
    verified_at: datetime


class UserRoleChangedPayload(Payload):
    user_id: UUID
    role: Literal["user", "moderator", "admin"]
    previous_role: Literal["user", "moderator", "admin"]


class UserBadgePayload(Payload):
    user_id: UUID
    badge: str


class UserProfileUpdatedPayload(Payload):
    user_id: UUID
    fields: list[str]  # the names of the fields that were set (values stay in PostgreSQL)


class ReportPayload(Payload):
    report_id: UUID
    reporter_id: UUID
    target_type: Literal["user", "post", "comment", "message", "live"]
    target_id: UUID
    target_user_id: UUID  # the reported user, or the reported content's author
    status: Literal["open", "upheld", "dismissed"]


class CaseDecidedPayload(Payload):
    """A moderator closed a moderation case (the note stays in PostgreSQL)."""

    case_id: UUID
    video_id: UUID
    owner_id: UUID
    kind: str  # what opened the case: "nsfw"
    decision: Literal["approve", "reject"]
    video_status: str  # the video's status after the decision


class ModerationDecidedPayload(Payload):
    """A moderator's decision on a case of the queue (models/moderation/decisions.py); the reason
    text stays in PostgreSQL. `appeal_of`: the decision an uphold/overturn answers."""

    decision_id: UUID
    case_id: UUID
    target_type: str
    target_id: UUID
    user_id: UUID | None  # the affected user (the content's author, or the user)
    action: str
    appeal_of: UUID | None = None


class ModerationAppealedPayload(Payload):
    decision_id: UUID
    appeal_id: UUID
    case_id: UUID
    user_id: UUID


class ImageDecidedPayload(Payload):
    """A moderator decided about an image the NSFW classifier held (models/moderation/image_review.py)."""

    image_id: UUID
    owner_id: UUID
    decision: Literal["approve", "reject"]
    status: Literal["ready", "deleted"]  # the image after the decision


class SanctionPayload(Payload):
    """A sanction on an account took effect (account.warned / struck / suspended / banned) or was
    lifted (account.reinstated), models/moderation/sanctions.py. The moderator's reason stays in
    PostgreSQL (`account_sanctions`); the notifications agent reads it from there."""

    sanction_id: UUID
    user_id: UUID
    decision_id: UUID  # the moderation decision that caused it (a strike's escalation: that strike's)
    action: Literal["warn", "strike", "suspend", "ban"]
    rule: str | None = None
    until: datetime | None = None  # a suspension's end; null for a ban and for warnings and strikes
    automatic: bool = False  # a suspension the strike policy added
    active_strikes: int = 0  # the user's strikes counted by the policy after this change


class FollowPayload(Payload):
    follower_id: UUID
    followee_id: UUID


class RelationPayload(Payload):
    user_id: UUID  # who blocks / mutes
    target_id: UUID  # whom


class VideoUploadedPayload(Payload):
    video_id: UUID
    owner_id: UUID
    original_key: str  # object-storage key of the uploaded file
    size: int


class VideoTranscodedPayload(Payload):
    video_id: UUID
    owner_id: UUID
    playlist_key: str  # object-storage key of master.m3u8 (renditions beside it)
    thumbnail_key: str
    duration: float


class VideoModeratedPayload(Payload):
    video_id: UUID
    owner_id: UUID
    decision: Literal["publish", "review", "reject"]
    score: float


class WalletLegPayload(Payload):
    account: str  # "user" or a system account: platform_fee, cashout_pending, ...
    user_id: UUID | None  # the wallet's owner for "user" legs
    amount: int  # minor units (piasters), signed: + credit, - debit


class WalletMovementPayload(Payload):
    transaction_id: UUID
    kind: str  # tip, subscription, topup, cashout_hold, cashout_done, cashout_return, adjustment
    currency: str
    actor_id: UUID | None
    created_at: datetime
    legs: list[WalletLegPayload]
    metadata: dict  # per kind: tip -> to_user_id, post_id, amount, fee, creator_amount, ...


class InterestsSetPayload(Payload):
    user_id: UUID
    topics: list[str]  # onboarding interests; the worker embeds them as one query


class RecsRefreshPayload(Payload):
    user_id: UUID


class RebuildPost(Payload):
    post_id: UUID
    author_id: UUID
    visibility: str
    caption: str
    created_at: datetime
    video_id: UUID | None = None


class RebuildSignal(Payload):
    key: str  # a post id, or "@topics" for onboarding interests
    kind: str  # like, love, ..., topics (models/discovery/interests.py: WEIGHTS)
    event_id: UUID  # the event that set it (UUIDv7: also when)
    weight: float  # 0 for a retracted signal (an unlike)
    text: str | None = None


class RebuildUser(Payload):
    user_id: UUID
    signals: list[RebuildSignal]


class RebuildStepPayload(Payload):
    version: str


class RebuildPostsPayload(Payload):
    version: str
    posts: list[RebuildPost]


class RebuildUsersPayload(Payload):
    version: str
    users: list[RebuildUser]


class RebuildFinishedPayload(Payload):
    version: str
    posts: int
    users: int


class CommentPayload(Payload):
    comment_id: UUID
    post_id: UUID
    author_id: UUID
    post_author_id: UUID
    parent_id: UUID | None = None
    parent_author_id: UUID | None = None  # whose comment this replies to
    body: str
    mentions: list[UUID] = []  # every user the body @mentions
    new_mentions: list[UUID] = []  # those not mentioned before this write (whom to notify)


class CommentDeletedPayload(Payload):
    comment_id: UUID
    post_id: UUID
    author_id: UUID
    deleted_by: UUID  # the author, or the post's author


class ViewPayload(Payload):
    post_id: UUID
    user_id: UUID
    watched_ms: int


class SharePayload(Payload):
    post_id: UUID
    user_id: UUID
    channel: str


class FeedbackPayload(Payload):
    post_id: UUID
    user_id: UUID
    kind: Literal["not_interested", "hide"]


class MessageSentPayload(Payload):
    """The body stays in PostgreSQL (models/messaging/messages.py): the log carries who wrote to whom."""

    message_id: UUID
    conversation_id: UUID
    sender_id: UUID
    recipient_id: UUID | None = None  # a direct message's recipient; None in a group
    kind: Literal["direct", "group"] = "direct"


class MessageUnsentPayload(Payload):
    """Unsent for everyone by its sender (the body is gone from PostgreSQL)."""

    message_id: UUID
    conversation_id: UUID
    sender_id: UUID


class ConversationMemberPayload(Payload):
    """A group's membership changed: `change` is added, joined (invite link), left, removed or
    role (admin/member); `actor_id` did it."""

    conversation_id: UUID
    user_id: UUID
    actor_id: UUID
    change: Literal["created", "added", "joined", "left", "removed", "role"]
    role: Literal["owner", "admin", "member"] | None = None


class MessageRequestPayload(Payload):
    """A message request (models/messaging/requests.py) was opened, accepted or declined; the
    messages stay in PostgreSQL. `conversation_id` is set on acceptance."""

    request_id: UUID
    sender_id: UUID
    recipient_id: UUID
    conversation_id: UUID | None = None


class ExportRequestedPayload(Payload):
    """A user asked for their data (models/privacy/exports.py); the row is committed."""

    export_id: UUID
    user_id: UUID


class ErasureDuePayload(Payload):
    """An account's grace period ended (models/privacy/erasure.py); its row is `erasing`."""

    user_id: UUID


@dataclass(frozen=True)
class Topic:
    name: str
    key: str  # payload field whose value is the message key (partitioning)
    events: dict[str, type[Payload]]
    doc: str
    partitions: int | None = None  # None: settings.kafka_partitions

    def __hash__(self) -> int:  # a topic's name is unique (dict keys: @batch_agent(groups={TOPIC: ...}))
        return hash(self.name)


REACTIONS = Topic(
    "interactions.reactions",
    key="post_id",
    events={"reaction.added": ReactionPayload, "reaction.removed": ReactionPayload},
    doc="A user adds or removes a reaction on a post. Keyed by post so a post's "
    "reactions stay in order on one partition. Consumed by the counters agent.",
)
POSTS = Topic(
    "content.posts",
    key="post_id",
    events={
        "post.created": PostCreatedPayload,
        "post.edited": PostEditedPayload,
        "post.deleted": PostDeletedPayload,
        "post.removed": PostRemoved,
        "post.restored": PostRestored,
    },
    doc="Post lifecycle, relayed from the PostgreSQL outbox after the transaction commits. A "
    "removal by a moderator (post.removed) and its reversal (post.restored) keep the row. A duet "
    "or stitch notifies its source's owner (notifications agent). A deletion removes the post's "
    "notifications (notifications agent), its point in the recommendation index (recs_embeddings), "
    "its trending entries (trending), its hashtag index rows (hashtags) and its video's files "
    "(post_media). The search index (search_index) and the hashtag index (hashtags) follow "
    "creations, edits, deletions and moderation's removals and restorations.",
)
USERS = Topic(
    "users.lifecycle",
    key="user_id",
    events={
        "user.registered": UserRegisteredPayload,
        "user.phone_verified": UserPhoneVerifiedPayload,
        "user.role_changed": UserRoleChangedPayload,
        "user.badge_granted": UserBadgePayload,
        "user.badge_revoked": UserBadgePayload,
        "user.profile_updated": UserProfileUpdatedPayload,
    },
    doc="Account lifecycle, relayed from the PostgreSQL outbox after commit.",
)
REPORTS = Topic(
    "moderation.reports",
    key="target_user_id",
    events={"report.created": ReportPayload, "report.resolved": ReportPayload},
    doc="Reports about a user or a post and their resolution by staff, relayed from the "
    "PostgreSQL outbox after commit. Keyed by the reported user. Consumed by the trust-score "
    "agent.",
)
MODERATION_CASES = Topic(
    "moderation.cases",
    key="video_id",
    events={"moderation.case_decided": CaseDecidedPayload},
    doc="A moderator decided a moderation case opened by the NSFW agent (approve: the video is "
    "ready; reject: rejected), relayed from the PostgreSQL outbox after commit. Keyed by "
    "video. No consumer yet.",
)
MODERATION_DECISIONS = Topic(
    "moderation.decisions",
    key="case_id",
    events={"moderation.decided": ModerationDecidedPayload, "moderation.appealed": ModerationAppealedPayload},
    doc="Decisions on the cases of the moderation queue and appeals of them "
    "(models/moderation/decisions.py), relayed from the PostgreSQL outbox after commit. Keyed by "
    "case. No consumer yet (the affected user is notified in the decision's transaction).",
)
MODERATION_IMAGES = Topic(
    "moderation.images",
    key="image_id",
    events={"moderation.image_decided": ImageDecidedPayload},
    doc="A moderator approved (ready) or rejected (deleted) an image the NSFW classifier held "
    "for review, relayed from the PostgreSQL outbox after commit. Keyed by image. No consumer yet.",
)
MODERATION_SANCTIONS = Topic(
    "moderation.sanctions",
    key="user_id",
    events={
        "account.warned": SanctionPayload,
        "account.struck": SanctionPayload,
        "account.suspended": SanctionPayload,
        "account.banned": SanctionPayload,
        "account.reinstated": SanctionPayload,
    },
    doc="Sanctions on accounts (docs/moderation.md#sanctions-and-strike-policy): a warning, a strike, "
    "a suspension (also one the strike policy added), a ban, and a sanction lifted by an overturned "
    "appeal (account.reinstated, one per lifted sanction), relayed from the PostgreSQL outbox after "
    "commit. Keyed by user. Consumed by the notifications agent (the user is told the rule and the reason).",
)
MEDIA = Topic(
    "media.videos",
    key="video_id",
    events={
        "media.uploaded": VideoUploadedPayload,
        "media.transcoded": VideoTranscodedPayload,
        "media.moderated": VideoModeratedPayload,
    },
    doc="Video lifecycle, relayed from the PostgreSQL outbox after commit: an upload completed "
    "(consumed by the transcode agent), its HLS renditions are stored (consumed by the NSFW "
    "agent), the automatic moderation decided. Keyed by video.",
)
FOLLOWS = Topic(
    "users.follows",
    key="followee_id",
    events={"follow.added": FollowPayload, "follow.removed": FollowPayload},
    doc="A user follows or unfollows another (from the API; a block adds follow.removed both ways "
    "through the outbox). Keyed by followee: one user's follows stay in order on one partition "
    "and a popular account's new followers land in one batch, one counter update. Consumed by "
    "the follows agent.",
)
RELATIONS = Topic(
    "users.relations",
    key="user_id",
    events={
        "user.blocked": RelationPayload,
        "user.unblocked": RelationPayload,
        "user.muted": RelationPayload,
        "user.unmuted": RelationPayload,
    },
    doc="Blocks and mutes, relayed from the PostgreSQL outbox after commit (PostgreSQL is the "
    "truth: permissions hold when the API answers). For consumers such as feeds.",
)

WALLET_MOVEMENTS = Topic(
    "wallet.movements",
    key="transaction_id",
    events={"wallet.movement": WalletMovementPayload},
    doc="One event per committed ledger transaction (its balanced legs), relayed from the "
    "PostgreSQL outbox after commit, never before. Consumed by the creator-metrics agent, "
    "which keys its effects by transaction id.",
)

RECS_USERS = Topic(
    "recs.users",
    key="user_id",
    events={"recs.interests_set": InterestsSetPayload, "recs.refresh_requested": RecsRefreshPayload},
    doc="Recommendation commands about one user: onboarding interests set (relayed from the "
    "PostgreSQL outbox after commit) and a request to recompute the user's candidate list "
    "(from the API when the list is stale). Consumed by the interests agent.",
)
RECS_REBUILD = Topic(
    "recs.rebuild",
    key="version",
    partitions=1,
    events={
        "recs.rebuild_started": RebuildStepPayload,
        "recs.rebuild_posts": RebuildPostsPayload,
        "recs.rebuild_users": RebuildUsersPayload,
        "recs.rebuild_finished": RebuildFinishedPayload,
    },
    doc="The recommendations rebuild job (jobs/rebuild_recommendations.py) sends its work here: the "
    "worker, the only owner of Qdrant, fills new collections and swaps the aliases at "
    "`recs.rebuild_finished`. One partition: the steps of a rebuild apply in order.",
)

COMMENTS = Topic(
    "interactions.comments",
    key="post_id",
    events={
        "comment.created": CommentPayload,
        "comment.edited": CommentPayload,
        "comment.deleted": CommentDeletedPayload,
    },
    doc="Comments, relayed from the PostgreSQL outbox after commit (a deleted comment's replies "
    "each get their own comment.deleted). Keyed by post. Consumed by the comment counters and "
    "trending agents; mentions are for notifications.",
)
ENGAGEMENT = Topic(
    "interactions.engagement",
    key="post_id",
    events={"view.counted": ViewPayload, "share.created": SharePayload},
    doc="A view that counted (watched long enough, first for this viewer and post within the "
    "dedupe window) and a share; the event id identifies each. Keyed by post. Consumed by "
    "the engagement counters and trending agents.",
)
FEEDBACK = Topic(
    "interactions.feedback",
    key="user_id",
    events={"feedback.added": FeedbackPayload, "feedback.removed": FeedbackPayload},
    doc="A user marks a post not interesting or hides it (or takes it back), relayed from the "
    "PostgreSQL outbox after commit. PostgreSQL is the truth for filtering; this is for the "
    "recommender.",
)
MESSAGES = Topic(
    "interactions.messages",
    key="conversation_id",
    events={
        "message.sent": MessageSentPayload,
        "message.unsent": MessageUnsentPayload,
        "conversation.member": ConversationMemberPayload,
    },
    doc="A message (direct or group) was stored or unsent, or a group's membership changed, relayed "
    "from the PostgreSQL outbox after commit (a message.sent's event id is the message id). Keyed by "
    "conversation, so one conversation's events keep their order. Live delivery does not wait for it (the API "
    "pushes to `user:<id>` after commit); consumed by the notifications agent.",
)
MESSAGE_REQUESTS = Topic(
    "interactions.message_requests",
    key="recipient_id",
    events={
        "message_request.created": MessageRequestPayload,
        "message_request.accepted": MessageRequestPayload,
        "message_request.declined": MessageRequestPayload,
    },
    doc="A first message from someone the recipient's dm_policy does not admit opened a request, "
    "or the recipient accepted or declined it; relayed from the PostgreSQL outbox after commit. "
    "Keyed by recipient. Live delivery does not wait for it (the API pushes `message_request.*` "
    "after commit); no agent consumes it yet (the log for analytics and abuse review).",
)
PRIVACY = Topic(
    "privacy.requests",
    key="user_id",
    events={"export.requested": ExportRequestedPayload, "account.erasure_due": ErasureDuePayload},
    doc="PDPL requests of users, relayed from the PostgreSQL outbox after commit. Keyed by user. "
    "The data_exports agent builds the archive of an `export.requested`; the erasure agent erases "
    "an account whose grace period ended (`account.erasure_due`, staged by jobs/erase_accounts.py).",
)

# Every Topic defined above, in definition order: defining one is enough to list it.
ALL: tuple[Topic, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Topic))
BY_NAME = {t.name: t for t in ALL}
TOPIC_OF_EVENT = {etype: t for t in ALL for etype in t.events}


def dlq_name(topic: Topic | str) -> str:
    """The dead-letter topic of `topic`: what its batch agents could not apply (streams/batch.py)."""
    return f"{topic if isinstance(topic, str) else topic.name}.dlq"


def partitions(topic: Topic, default: int) -> int:
    """`default`: settings.kafka_partitions (this catalog sits below infra, so it is passed in)."""
    return topic.partitions or default


def validate_payload(event_type: str, payload: dict) -> dict:
    """Raise pydantic.ValidationError if `payload` does not match its event type's schema."""
    model = TOPIC_OF_EVENT[event_type].events[event_type]
    return model.model_validate(payload).model_dump(mode="json")


def _type_name(ann) -> str:
    """A readable type for a markdown table cell ("|" escaped)."""
    origin, args = get_origin(ann), get_args(ann)
    if origin is Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (Union, UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if ann is type(None) else getattr(ann, "__name__", None) or str(ann)


def markdown() -> str:
    lines = [
        "# Topics and event schemas",
        "",
        "Generated by `python -m models.core.topics` from `models/core/topics.py`; do not edit.",
        "",
        "Every message value is the JSON envelope "
        "`{id (UUIDv7), type, version, actor, ts, payload}` (`models/core/events.py`). Agents receive it "
        "decoded and validated: `Received[<payload model>]`; a value that does not validate (or a type "
        "its topic does not list) goes to `<topic>.dlq` (docs/agents.md).",
        "",
    ]
    for t in ALL:
        lines += [
            f"## `{t.name}`",
            "",
            t.doc,
            "",
            f"Key: `payload.{t.key}`.",
            "",
            "| event | payload field | type |",
            "|---|---|---|",
        ]
        for etype, model in t.events.items():
            for fname, f in model.model_fields.items():
                ann = _type_name(f.annotation)
                lines.append(f"| `{etype}` | `{fname}` | `{ann}` |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
