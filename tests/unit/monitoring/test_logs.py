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
    OneLineFormatter,
    RedactingFilter,
    Redactor,
    build_handler,
    configure_logging,
    one_line,
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


HOSTILE = "disk full\nINJECTED root: rm -rf /\r\x1b[2Jsecond\u2028third\x85fourth"


def test_one_line_escapes_every_line_break_and_control_character():
    """Regression (issue 13, item 3): text from a state file (backup-status.json's last_error)
    reached cron.log and alerts verbatim, newlines included; there was no escaping helper."""
    text = one_line(HOSTILE)
    assert text.splitlines() == [text]
    assert text == ("disk full\\nINJECTED root: rm -rf /\\r\\x1b[2Jsecond\\u2028third"
                    "\\x85fourth")
    assert one_line("plain text: 42 % (ok) \u00e9\u00e8 \U0001f534") == \
        "plain text: 42 % (ok) \u00e9\u00e8 \U0001f534"


def _format_with(handler: logging.Handler, message: str, *args: object) -> str:
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger = logging.getLogger("guildbot.test.oneline")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [handler]
    try:
        logger.error(message, *args)
    finally:
        logger.handlers = []
    return stream.getvalue()


@pytest.mark.parametrize("kind", ["text", "cli"])
def test_a_hostile_message_stays_on_its_log_line(tmp_path, kind):
    """Regression (issue 13, item 3): a message carrying state-file text could start log lines of
    its own (cron.log is appended by root); fails on the old code because the bot's text format
    and the CLI's format wrote the message's newlines as they were."""
    if kind == "text":
        handler = build_handler(make_settings(tmp_path, "text"))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    out = _format_with(handler, "alert (backup_failed): guildbot backup failed: %s", HOSTILE)
    assert len(out.splitlines()) == 1
    assert not any(line.startswith("INJECTED") for line in out.splitlines())
    assert "disk full\\nINJECTED" in out


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
