"""Logging setup: text or JSON lines, to stderr or a WatchedFileHandler, with secret redaction.

Every handler installed here carries a :class:`RedactingFilter`, so a secret can not reach a log
line whichever logger emitted it (ours, discord.py's, aiohttp's): the configured secrets
(``settings.secrets()``) and anything shaped like a Discord webhook URL or a bot token are
replaced with ``[REDACTED]`` in the message, its arguments, the exception text, the stack text
and any extra string field.

The log file is opened with :class:`logging.handlers.WatchedFileHandler`, which reopens the file
when it was moved away: logrotate can use ``create`` (not ``copytruncate``, which loses lines).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from bot.config import Settings

REDACTED = "[REDACTED]"

# https://discord.com/api/webhooks/ID/TOKEN (also discordapp.com, ptb./canary., /api/v10/...)
WEBHOOK_URL_RE = re.compile(
    r"https?://(?:[a-z0-9-]+\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/\d+/[A-Za-z0-9_.\-]+",
    re.IGNORECASE,
)
# The path alone, as aiohttp or a proxy may print it: /api/webhooks/ID/TOKEN
WEBHOOK_PATH_RE = re.compile(r"/api(?:/v\d+)?/webhooks/\d+/[A-Za-z0-9_.\-]{20,}")
# A bot token: three base64url parts separated by dots (user id, timestamp, HMAC).
TOKEN_RE = re.compile(
    r"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{20,}(?![A-Za-z0-9_\-])"
)
MFA_TOKEN_RE = re.compile(r"\bmfa\.[A-Za-z0-9_\-]{20,}")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)).keys()
) | {"message", "asctime", "taskName"}

_MIN_SECRET_LEN = 6  # shorter "secrets" (development placeholders) would shred every line

# C0 and C1 controls, DEL and the Unicode line/paragraph separators: anything that could end a
# line (or move the cursor) in a log file, a terminal or a Discord message.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every control character escaped (a newline becomes ``\\n``, others
    ``\\xNN``/``\\uNNNN``), so text read from a state file, a path or an error message can never
    start a log line, a cron.log line or an alert line of its own."""
    return _CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class Redactor:
    """Replaces known secret values and secret-shaped strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            values.add(secret)
            # A webhook URL's token part alone must not leak either (e.g. a path in an error).
            if "/webhooks/" in secret:
                token_part = secret.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
                values.add(token_part)
        kept = sorted((v for v in values if len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(v) for v in kept)) if kept else None

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        if "webhooks" in text:
            text = WEBHOOK_URL_RE.sub(REDACTED, text)
            text = WEBHOOK_PATH_RE.sub(REDACTED, text)
        if "." in text:
            text = TOKEN_RE.sub(REDACTED, text)
            if "mfa." in text:
                text = MFA_TOKEN_RE.sub(REDACTED, text)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the message, args, exception and extra fields in place.

    The record is rewritten (message rendered with its args, exception rendered to text) so that
    every later handler and formatter sees only the redacted form. It never drops a record.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def learn(self, secrets: Iterable[str]) -> None:
        """Redact these secrets too from now on (the CLI's handler exists before its settings)."""
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redact
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line (nor leak the args)
            message = f"{record.msg!s} (unformattable args)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            # The exception object may carry the secret in its args: drop it, keep the text.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")}


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, exc (traceback text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            if key not in entry:
                plain = isinstance(value, (str, int, float, bool, type(None)))
                entry[key] = value if plain else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2025-01-01T00:00:00.000Z INFO logger: message key=value ...`` (+ traceback lines)."""

    def format(self, record: logging.LogRecord) -> str:
        line = (f"{_iso(record.created)} {record.levelname} {record.name}: "
                f"{one_line(record.getMessage())}")
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in extras.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


class OneLineFormatter(logging.Formatter):
    """A %-style formatter whose message is always one line (see :func:`one_line`); a
    traceback, if any, still follows on its own lines. Used by the short-lived CLI commands."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c in text for c in ' "=\n')) else text


_HANDLER_MARK = "_guildbot_handler"


def build_handler(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """The handler configure_logging installs (exposed for tests and the CLI)."""
    handler: logging.Handler
    if settings.log_file is not None:
        handler = logging.handlers.WatchedFileHandler(settings.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(RedactingFilter(settings.secrets()))
    setattr(handler, _HANDLER_MARK, True)
    return handler


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (as logging's last resort does),
    so a handler left behind by an in-process call never writes to a closed stream."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_cli_logging(stream: TextIO | None = None) -> RedactingFilter:
    """The CLI's handler (every subcommand but ``run``): one line per record on stderr, which cron
    appends to its log, redacted like the bot's own. It is installed before the settings are read
    (their errors are logged too), so the caller hands it the secrets once they are known:
    ``configure_cli_logging().learn(settings.secrets())``. Idempotent like configure_logging."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    redacting = RedactingFilter()
    handler.addFilter(redacting)
    _install(handler)
    logging.getLogger().setLevel(logging.INFO)
    return redacting


def _install(handler: logging.Handler) -> None:
    """Put ``handler`` on the root logger in place of the one installed here before."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
            old.close()
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)


def configure_logging(settings: Settings) -> None:
    """Install one handler on the root logger (idempotent: a second call replaces the first)."""
    root = logging.getLogger()
    _install(build_handler(settings))
    level = logging.getLevelName(settings.log_level.upper())
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    logging.captureWarnings(True)
