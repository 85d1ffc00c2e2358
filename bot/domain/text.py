"""What members type and what we echo back: cleaning, display names, announcements."""

from __future__ import annotations

import re
import unicodedata

from bot import i18n
from bot.domain.errors import InvalidInput
from bot.i18n import _

MAX_NAME_LENGTH = 32
MAX_ANNOUNCEMENT_LENGTH = 1900
_MENTION = re.compile(r"<(@[!&]?|#)\d+>|@(everyone|here)")


def clean_text(text: str, limit: int) -> str:
    """Text safe to echo back: normalised, no control characters, no pings, bounded length."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _MENTION.sub("[mention]", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def display_name(name: str) -> str:
    """A member's display name as we store it: cleaned, never empty."""
    return clean_text(name, MAX_NAME_LENGTH) or "member"  # stored: never translated


def validate_announcement(message: str) -> str:
    message = message.strip()
    if not message:
        raise InvalidInput(_("The announcement is empty."))
    if len(message) > MAX_ANNOUNCEMENT_LENGTH:
        raise InvalidInput(_("Announcements are limited to {most} characters.",
                             most=i18n.number(MAX_ANNOUNCEMENT_LENGTH)))
    return message
