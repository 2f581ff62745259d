"""Settings, read once from the environment (the only configuration source).

Every variable is listed in the README's configuration table. Secrets that are not configured
are generated on first run and kept in a local file, except in production mode, where a missing
secret refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from rooms_server.invites import MIN_LIFETIME_S
from rooms_server.serving import HttpBounds

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./rooms.db"


class ConfigError(Exception):
    """The environment describes a configuration the server cannot run with."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one client may make the server do."""

    max_body_bytes: int = 64 * 1024
    admission_limit: int = 16  # requests and socket starts worked on at once (web/admission.py)
    admission_wait_s: float = 30.0  # how long one waits for its turn before 503 / 4013
    max_frame_bytes: int = 16 * 1024
    commands_per_second: float = 20.0
    command_burst: int = 40
    chat_max_chars: int = 500
    max_queue_tracks: int = 500
    max_connections_per_user: int = 10
    send_queue_frames: int = 256
    connect_attempts_per_minute: int = 300  # per client IP, every process together on redis://; 0 = off
    invite_joins_per_minute: int = 60  # per client IP and per invite; 0 = off


DEFAULT_LIMITS = Limits()
DEFAULT_HTTP = HttpBounds()


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """The music services: credentials of the server's own app, API locations, cache and timeout.

    A service with no app credentials still works for users who connected their own account, and
    with neither the add command takes its title and duration from the client.
    """

    spotify_client_id: str = ""
    spotify_client_secret: str = field(default="", repr=False)
    spotify_redirect_uri: str = ""  # "" → {PUBLIC_BASE_URL}/api/services/spotify/callback
    spotify_api_url: str = "https://api.spotify.com/v1/"
    spotify_accounts_url: str = "https://accounts.spotify.com"
    spotify_short_link_url: str = "https://spotify.link"  # where spotify.link/<code> short links are followed
    youtube_api_key: str = field(default="", repr=False)
    youtube_api_url: str = "https://youtube.googleapis.com"
    metadata_cache_ttl_s: int = 24 * 3600
    timeout_s: float = 5.0

    @property
    def spotify_configured(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret)

    @property
    def youtube_configured(self) -> bool:
        return bool(self.youtube_api_key)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    engine_url: str = "memory://"
    redis_prefix: str = "rooms:"
    public_base_url: str = "http://localhost:8000"
    allowed_origins: tuple[str, ...] = ()
    # Whether PUBLIC_BASE_URL / ALLOWED_ORIGINS were configured; when not (and HOST is every
    # interface), lan.advertise() puts the machine's LAN address in their place.
    public_base_url_set: bool = True
    allowed_origins_set: bool = True
    advertised: tuple[str, ...] = ()  # the URLs phones may open, filled by lan.advertise()
    secret_key: str = field(default="", repr=False)
    production: bool = False
    # Fernet keys for stored service tokens: the first encrypts, all decrypt. Empty in development:
    # one is generated into secrets_file when first needed.
    token_encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    secrets_file: str = ".rooms-secrets.json"
    sources: SourceSettings = SourceSettings()
    host: str = "0.0.0.0"
    port: int = 8000
    migrate_on_start: bool = True
    token_ttl_s: int = 30 * 24 * 3600
    playback_lead_ms: int = 400  # the shortest lead of a scheduled playback change (and the lead before any RTT report)
    playback_lead_max_ms: int = 3000  # the longest, however slow a phone says it is
    vote_skip_ratio: float = 0.5
    presence_ttl_s: int = 30
    # Joins and departures within this window after an announcement go out together, as one
    # members_changed (presence.py): a join storm costs O(N) frames, not O(N²).
    presence_window_ms: int = 200
    snapshot_members_max: int = 100  # the snapshot lists this many members present; the rest over HTTP
    host_check_s: float = 5.0  # how often a process checks its rooms' hosts (host_watch.py)
    history_size: int = 1000
    invite_ttl_s: int = 7 * 24 * 3600
    invite_max_ttl_s: int = 30 * 24 * 3600
    invite_cleanup_s: int = 600
    session_cleanup_s: int = 3600
    limits: Limits = Limits()
    http: HttpBounds = HttpBounds()
    log_format: str = "text"  # or "json": one object per line
    log_level: str = "INFO"
    access_log: bool = True  # one line per HTTP request; off by default in production
    fast_path: bool = True  # FAST_PATH=off: every frame through the ASGI send (web/fast_path.py)
    metrics_token: str = field(default="", repr=False)  # "" → no /metrics route
    sqlite_busy_timeout_ms: int = 5000  # how long a SQLite writer waits for the write lock
    command_id_window_s: int = 600  # a repeated client command id within this window changes nothing
    # Test-only fault injection, off (0) by default: a durable command whose client id starts with
    # "stall-" sleeps this long between its SQL commit and its engine commit, holding the group lock,
    # so that a test can kill the process exactly there (tests/test_outages.py).
    test_stall_after_sql_s: float = 0.0

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def spotify_redirect_uri(self) -> str:
        return self.sources.spotify_redirect_uri or f"{self.public_base_url}/api/services/spotify/callback"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        port = _int(env, "PORT", 8000)
        database_url = normalize_database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        public_base_url = (env.get("PUBLIC_BASE_URL") or f"http://localhost:{port}").rstrip("/")
        production = env.get("ROOMS_ENV", "development").strip().lower() == "production"
        origins = tuple(o.strip().rstrip("/") for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
        migrate = env.get("MIGRATE_ON_START", "auto").strip().lower()
        invite_ttl_s, invite_max_ttl_s = _invite_lifetimes(env)
        return cls(
            database_url=database_url,
            engine_url=env.get("REDIS_URL") or "memory://",
            redis_prefix=env.get("REDIS_PREFIX", "rooms:"),
            public_base_url=public_base_url,
            allowed_origins=origins or (_origin_of(public_base_url),),
            public_base_url_set=bool(env.get("PUBLIC_BASE_URL", "").strip()),
            allowed_origins_set=bool(origins),
            secret_key=_secret(env, production),
            production=production,
            token_encryption_keys=_token_keys(env, production),
            secrets_file=env.get("SECRETS_FILE", ".rooms-secrets.json"),
            sources=_source_settings(env),
            host=env.get("HOST", "0.0.0.0"),
            port=port,
            migrate_on_start=database_url.startswith("sqlite")
            if migrate == "auto"
            else migrate in ("1", "true", "yes"),
            token_ttl_s=_int(env, "TOKEN_TTL_DAYS", 30) * 24 * 3600,
            playback_lead_ms=_int(env, "PLAYBACK_LEAD_MS", 400),
            playback_lead_max_ms=_int(env, "PLAYBACK_LEAD_MAX_MS", 3000),
            vote_skip_ratio=_ratio(env, "VOTE_SKIP_RATIO", 0.5),
            presence_ttl_s=max(_int(env, "PRESENCE_TTL_S", 30), 3),
            presence_window_ms=max(_int(env, "PRESENCE_WINDOW_MS", 200), 0),
            snapshot_members_max=max(_int(env, "SNAPSHOT_MEMBERS", 100), 1),
            host_check_s=max(_seconds(env, "HOST_CHECK_S", 5.0), 0.05),
            history_size=max(_int(env, "HISTORY_SIZE", 1000), 10),
            invite_ttl_s=invite_ttl_s,
            invite_max_ttl_s=invite_max_ttl_s,
            invite_cleanup_s=max(_int(env, "INVITE_CLEANUP_S", 600), 1),
            session_cleanup_s=max(_int(env, "SESSION_CLEANUP_S", 3600), 1),
            http=HttpBounds(
                header_timeout_s=_seconds(env, "HTTP_HEADER_TIMEOUT_S", DEFAULT_HTTP.header_timeout_s),
                body_timeout_s=_seconds(env, "HTTP_BODY_TIMEOUT_S", DEFAULT_HTTP.body_timeout_s),
                max_connections=max(_int(env, "MAX_CONNECTIONS", DEFAULT_HTTP.max_connections), 1),
            ),
            log_format=_choice(env, "LOG_FORMAT", ("text", "json")),
            log_level=_choice(env, "LOG_LEVEL", ("INFO", "DEBUG", "WARNING", "ERROR"), upper=True),
            access_log=_flag(env, "ACCESS_LOG", default=not production),
            fast_path=_flag(env, "FAST_PATH", default=True),
            metrics_token=env.get("METRICS_TOKEN", "").strip(),
            sqlite_busy_timeout_ms=_int(env, "SQLITE_BUSY_TIMEOUT_MS", 5000),
            command_id_window_s=max(_int(env, "COMMAND_ID_WINDOW_S", 600), 1),
            test_stall_after_sql_s=float(_int(env, "TEST_STALL_AFTER_SQL_S", 0)),
            limits=Limits(
                max_body_bytes=_int(env, "MAX_BODY_BYTES", DEFAULT_LIMITS.max_body_bytes),
                admission_limit=max(_int(env, "ADMISSION_LIMIT", DEFAULT_LIMITS.admission_limit), 1),
                admission_wait_s=max(_seconds(env, "ADMISSION_WAIT_S", DEFAULT_LIMITS.admission_wait_s), 0.1),
                max_frame_bytes=_int(env, "MAX_FRAME_BYTES", DEFAULT_LIMITS.max_frame_bytes),
                commands_per_second=float(_int(env, "COMMANDS_PER_SECOND", int(DEFAULT_LIMITS.commands_per_second))),
                command_burst=_int(env, "COMMAND_BURST", DEFAULT_LIMITS.command_burst),
                chat_max_chars=_int(env, "CHAT_MAX_CHARS", DEFAULT_LIMITS.chat_max_chars),
                max_queue_tracks=_int(env, "MAX_QUEUE_TRACKS", DEFAULT_LIMITS.max_queue_tracks),
                max_connections_per_user=_int(env, "MAX_CONNECTIONS_PER_USER", DEFAULT_LIMITS.max_connections_per_user),
                send_queue_frames=_int(env, "SEND_QUEUE_FRAMES", DEFAULT_LIMITS.send_queue_frames),
                connect_attempts_per_minute=_int(
                    env, "CONNECT_ATTEMPTS_PER_MINUTE", DEFAULT_LIMITS.connect_attempts_per_minute
                ),
                invite_joins_per_minute=_int(env, "INVITE_JOINS_PER_MINUTE", DEFAULT_LIMITS.invite_joins_per_minute),
            ),
        )


def normalize_database_url(url: str) -> str:
    """Accept the URL forms a PaaS hands out and rewrite them for the async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"DATABASE_URL is not a URL: {url!r}")
    driver = {"postgres": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    scheme = driver.get(scheme, scheme)
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(f"DATABASE_URL must be SQLite or PostgreSQL, got scheme {url.partition(':')[0]!r}")
    if scheme == "postgresql+asyncpg" and "sslmode=" in rest:
        # asyncpg rejects libpq's sslmode; its own spelling is ssl.
        base, _, query = rest.partition("?")
        pairs = [("ssl" if k == "sslmode" else k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
        rest = f"{base}?{urlencode(pairs)}"
    return f"{scheme}://{rest}"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _invite_lifetimes(env: Mapping[str, str]) -> tuple[int, int]:
    """The default and the longest lifetime of an invite; none is shorter than MIN_LIFETIME_S."""
    default = _int(env, "INVITE_TTL_S", 7 * 24 * 3600)
    longest = _int(env, "INVITE_MAX_TTL_S", 30 * 24 * 3600)
    if longest < MIN_LIFETIME_S:
        raise ConfigError(f"INVITE_MAX_TTL_S must be at least {MIN_LIFETIME_S}, got {longest}")
    if not MIN_LIFETIME_S <= default <= longest:
        raise ConfigError(f"INVITE_TTL_S must be from {MIN_LIFETIME_S} to INVITE_MAX_TTL_S ({longest}), got {default}")
    return default, longest


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
    """One of ``choices`` (the first is the default), compared case-insensitively."""
    raw = env.get(name, "").strip()
    value = (raw.upper() if upper else raw.lower()) if raw else choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), got {raw!r}")


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be at least 0 and below 1, got {value}")
    return value


def _secret(env: Mapping[str, str], production: bool) -> str:
    configured = env.get("SECRET_KEY", "").strip()
    if configured:
        return configured
    if production:
        raise ConfigError("SECRET_KEY is required when ROOMS_ENV=production")
    return load_or_create_secrets(Path(env.get("SECRETS_FILE", ".rooms-secrets.json")))["secret_key"]


def _token_keys(env: Mapping[str, str], production: bool) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in env.get("TOKEN_ENCRYPTION_KEYS", "").split(",") if k.strip())
    if not keys and production:
        raise ConfigError("TOKEN_ENCRYPTION_KEYS is required when ROOMS_ENV=production")
    for index, key in enumerate(keys):
        if not is_fernet_key(key):
            raise ConfigError(
                f"TOKEN_ENCRYPTION_KEYS: key {index + 1} is not a Fernet key (urlsafe base64 of 32 bytes)"
            )
    return keys


def is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def _source_settings(env: Mapping[str, str]) -> SourceSettings:
    defaults = SourceSettings()
    return SourceSettings(
        spotify_client_id=env.get("SPOTIFY_CLIENT_ID", "").strip(),
        spotify_client_secret=env.get("SPOTIFY_CLIENT_SECRET", "").strip(),
        spotify_redirect_uri=env.get("SPOTIFY_REDIRECT_URI", "").strip(),
        spotify_api_url=_base_url(env, "SPOTIFY_API_URL", defaults.spotify_api_url).rstrip("/") + "/",
        spotify_accounts_url=_base_url(env, "SPOTIFY_ACCOUNTS_URL", defaults.spotify_accounts_url).rstrip("/"),
        spotify_short_link_url=_base_url(env, "SPOTIFY_SHORT_LINK_URL", defaults.spotify_short_link_url).rstrip("/"),
        youtube_api_key=env.get("YOUTUBE_API_KEY", "").strip(),
        youtube_api_url=_base_url(env, "YOUTUBE_API_URL", defaults.youtube_api_url).rstrip("/"),
        metadata_cache_ttl_s=max(_int(env, "METADATA_CACHE_TTL_S", defaults.metadata_cache_ttl_s), 1),
        timeout_s=_seconds(env, "SOURCE_TIMEOUT_S", defaults.timeout_s),
    )


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 300:
        raise ConfigError(f"{name} must be above 0 and at most 300, got {value}")
    return value


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Development convenience: keep generated secrets in a local file, readable by the owner only.

    Holds ``secret_key`` and ``token_encryption_key`` (a Fernet key); missing ones are added.
    """
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    generated = {
        "secret_key": lambda: secrets.token_urlsafe(48),
        "token_encryption_key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"),
    }
    missing = [name for name in generated if name not in stored]
    if missing:
        for name in missing:
            stored[name] = generated[name]()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    return stored
