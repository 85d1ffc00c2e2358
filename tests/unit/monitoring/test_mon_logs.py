"""Logging: text and JSON lines, and the redaction of secrets in msg, args, exception and extras."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
from pathlib import Path

import pytest

from bot.config import Secret, Settings
from bot.monitoring.logs import (
    REDACTED,
    RedactingFilter,
    Redactor,
    build_handler,
    configure_logging,
)

TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/SeCrEtWeBhOoKtOkEn_abcdefghijklmnop"
OTHER_TOKEN = "OTk5OTk5OTk5OTk5OTk5OTk5.Xy12Ab.zyxwvutsrqponmlkjihgfedcba98765432"
OTHER_WEBHOOK = "https://discordapp.com/api/v10/webhooks/42424242424242/another-secret-token-value"


def make_settings(tmp_path: Path, fmt: str, log_file: bool = False) -> Settings:
    return Settings(token=Secret(TOKEN), alert_webhook_url=Secret(WEBHOOK), log_format=fmt,
                    log_file=tmp_path / "guildbot.log" if log_file else None)


def emit(handler: logging.Handler, *, exc: bool) -> None:
    logger = logging.getLogger("guildbot.test.redaction")
    logger.propagate = False
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    try:
        if exc:
            try:
                raise RuntimeError(f"login failed with {TOKEN} posting to {WEBHOOK}")
            except RuntimeError:
                logger.exception("token %s webhook %s", TOKEN, WEBHOOK,
                                 extra={"guild_id": 7, "url": WEBHOOK})
        else:
            logger.warning(f"inline {TOKEN} and {OTHER_TOKEN} and {OTHER_WEBHOOK}",
                           extra={"command": "daily"})
    finally:
        logger.handlers = []


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("exc", [True, False])
def test_secrets_are_redacted(tmp_path, fmt, exc):
    stream = io.StringIO()
    handler = build_handler(make_settings(tmp_path, fmt), stream=stream)
    emit(handler, exc=exc)
    out = stream.getvalue()
    for secret in (TOKEN, WEBHOOK, OTHER_TOKEN, OTHER_WEBHOOK, "SeCrEtWeBhOoKtOkEn",
                   "another-secret-token-value", "GhIjKl.abcdef"):
        assert secret not in out
    assert REDACTED in out
    if exc:
        assert "RuntimeError" in out  # the traceback is still there, only redacted
        assert "Traceback" in out
    if fmt == "json":
        lines = out.strip().splitlines()
        assert len(lines) == 1
        entry = json.loads(lines[0])
        assert entry["level"] in ("ERROR", "WARNING")
        assert entry["logger"] == "guildbot.test.redaction"
        assert "ts" in entry
        assert "msg" in entry
        if exc:
            assert entry["guild_id"] == 7
            assert entry["url"] == REDACTED
            assert "RuntimeError" in entry["exc"]
        else:
            assert entry["command"] == "daily"


def test_text_format_has_extras(tmp_path):
    stream = io.StringIO()
    handler = build_handler(make_settings(tmp_path, "text"), stream=stream)
    logger = logging.getLogger("guildbot.test.text")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [handler]
    logger.info("hello %s", "world", extra={"error_id": "abcd1234", "guild_id": 9})
    logger.handlers = []
    line = stream.getvalue().strip()
    assert " INFO guildbot.test.text: hello world " in line
    assert "error_id=abcd1234" in line
    assert "guild_id=9" in line


def test_redactor_leaves_ordinary_text_alone():
    redact = Redactor([TOKEN])
    text = "module.submodule.function failed at bot/cogs/points.py line 42 (v1.2.3)"
    assert redact(text) == text


def test_filter_survives_bad_format_args():
    record = logging.LogRecord("x", logging.INFO, "p", 1, "value %d %s", (TOKEN,), None)
    assert RedactingFilter([TOKEN]).filter(record) is True
    assert TOKEN not in record.getMessage()


def test_configure_logging_uses_watched_file_handler(tmp_path):
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging(make_settings(tmp_path, "json", log_file=True))
        configure_logging(make_settings(tmp_path, "json", log_file=True))  # idempotent
        ours = [h for h in root.handlers if isinstance(h, logging.handlers.WatchedFileHandler)]
        assert len(ours) == 1
        assert any(isinstance(f, RedactingFilter) for f in ours[0].filters)
        logging.getLogger("guildbot.test.file").warning("token is %s", TOKEN)
        ours[0].flush()
        # logrotate's "create": the file is moved away and the handler reopens the path.
        log_path = tmp_path / "guildbot.log"
        log_path.rename(tmp_path / "guildbot.log.1")
        logging.getLogger("guildbot.test.file").warning("after rotation")
        ours[0].flush()
        assert "after rotation" in log_path.read_text()
        rotated = (tmp_path / "guildbot.log.1").read_text()
        assert TOKEN not in rotated
        assert REDACTED in rotated
    finally:
        for handler in list(root.handlers):
            if handler not in saved[0]:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved[1])
