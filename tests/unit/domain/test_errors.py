"""One user-error hierarchy (bot.domain.errors); storage failures stay apart."""

from __future__ import annotations

from bot.domain import errors
from bot.storage.base import StorageUnavailable


def test_every_user_error_has_one_root():
    for cls in (errors.InvalidInput, errors.NotAllowed, errors.NotRegistered,
                errors.AlreadyRegistered, errors.InsufficientPoints, errors.ChallengeNotFound):
        assert issubclass(cls, errors.UserError)


def test_a_storage_failure_is_not_a_user_error():
    assert not issubclass(StorageUnavailable, errors.UserError)
