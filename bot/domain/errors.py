"""The one hierarchy of errors a member can cause: the message is shown to them, ephemeral.

Every rule in ``bot.domain`` raises one of these; the storage backends raise the same classes (or
return values a domain rule turns into them), and ``GuildBotTree.on_error`` answers any
:class:`UserError` with its message. A storage backend's technical failures are not user errors:
see ``bot.storage.base.StorageUnavailable``.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the member can fix; the message says what and how."""


class InvalidInput(UserError):
    """The member typed, or asked for, something a rule does not allow."""


class NotAllowed(UserError):
    """The member may not do this (a permission, or who they are)."""


class NotRegistered(UserError):
    pass


class AlreadyRegistered(UserError):
    pass


class InsufficientPoints(UserError):
    pass


class ChallengeNotFound(UserError):
    pass
