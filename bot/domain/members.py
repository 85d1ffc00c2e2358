"""Members: registration, the daily check-in (day boundaries, streaks, rewards), profiles and
the leaderboard's pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot import i18n
from bot.domain.errors import AlreadyRegistered, InvalidInput, NotAllowed, NotRegistered
from bot.domain.settings import zone
from bot.domain.text import clean_text
from bot.i18n import N_, _, n_
from bot.storage.base import LoginResult, Member

STREAK_BONUS_CAP = 6
LEADERBOARD_PAGE_SIZE = 10
EMPTY_LEADERBOARD = N_("Nobody has registered yet: be the first with /register!")


# -- registration -------------------------------------------------------------------------------
def check_can_register(is_bot: bool) -> None:
    if is_bot:
        raise NotAllowed(_("Bots cannot register."))


def check_first_registration(inserted: bool) -> None:
    """A member registers once per server; ``inserted`` is False when they already had a row."""
    if not inserted:
        raise AlreadyRegistered(_("You are already registered in this server."))


def welcome_message(member: Member) -> str:
    return n_("Welcome, <@{user}>! You are registered with {points} point. Use /login every "
              "day to build your streak.",
              "Welcome, <@{user}>! You are registered with {points} points. Use /login every "
              "day to build your streak.", member.points, user=member.user_id,
              points=i18n.number(member.points))


def require_member(member: Member | None, message: str | None = None) -> Member:
    if member is None:
        raise NotRegistered(message or _("Register first with /register."))
    return member


def require_profile(member: Member | None, is_self: bool, name: str) -> Member:
    """A profile exists only for a registered member; the message says whose is missing."""
    return require_member(member, _("You are not registered yet: use /register.") if is_self
                          else _("{name} has not registered in this server.", name=name))


# -- daily check-in -----------------------------------------------------------------------------
def login_award(daily_reward: int, streak: int) -> int:
    """Points for a check-in: the daily reward plus 10 % of it per streak day, capped at +60 %."""
    bonus_days = min(max(streak - 1, 0), STREAK_BONUS_CAP)
    return daily_reward + daily_reward * bonus_days // 10


def local_days(now: float, zone_name: str) -> tuple[str, str]:
    """Today and yesterday (ISO dates) in the guild's day-boundary time zone."""
    today = datetime.fromtimestamp(now, tz=zone(zone_name)).date()
    return today.isoformat(), (today - timedelta(days=1)).isoformat()


def login(member: Member | None, day: str, yesterday: str, daily_reward: int) -> LoginResult:
    """A check-in on ``day``: once a day; a check-in the day after the last one continues the
    streak, any later one starts a new streak of 1; the award grows with the streak."""
    member = require_member(member)
    if member.last_login_day == day:
        return LoginResult(member, 0, True, False)
    continued = member.last_login_day == yesterday
    streak = member.streak + 1 if continued else 1
    award = login_award(daily_reward, streak)
    updated = replace(member, points=member.points + award, streak=streak,
                      best_streak=max(member.best_streak, streak), last_login_day=day,
                      total_logins=member.total_logins + 1)
    return LoginResult(updated, award, False, member.streak > 0 and not continued)


def login_message(result: LoginResult, daily_reward: int, day_boundary: str) -> str:
    member = result.member
    if result.already_claimed:
        return _("You already checked in today. Streak: {streak}, {points}. Come back "
                 "tomorrow (days start at midnight {zone}).", streak=i18n.days(member.streak),
                 points=i18n.points(member.points), zone=day_boundary)
    lines = [_("Checked in: +{awarded}. Streak: {streak}. Total: {points}.",
               awarded=i18n.points(result.awarded), streak=i18n.days(member.streak),
               points=i18n.points(member.points))]
    if result.streak_broken:
        lines.append(_("Your previous streak ended; a new one starts today."))
    tomorrow = login_award(daily_reward, member.streak + 1)
    lines.append(n_("Tomorrow's check-in is worth {points} point.",
                    "Tomorrow's check-in is worth {points} points.", tomorrow,
                    points=i18n.number(tomorrow)))
    return "\n".join(lines)


# -- leaderboard --------------------------------------------------------------------------------
def page_count(total_items: int) -> int:
    return max(1, -(-total_items // LEADERBOARD_PAGE_SIZE))


def page_offset(page: int) -> int:
    """How many members come before the first one of ``page`` (pages count from 1)."""
    return (page - 1) * LEADERBOARD_PAGE_SIZE


def parse_page(typed: str) -> int:
    """A page number typed into the leaderboard's "go to page" box."""
    typed = typed.strip()
    if not typed.isdigit() or len(typed) > 9:
        raise InvalidInput(_("`{typed}` is not a page number; type a number such as 2.",
                             typed=clean_text(typed, 20)))
    return int(typed)


def validate_page(page: int, total_items: int) -> int:
    pages = page_count(total_items)
    if page < 1 or page > pages:
        raise InvalidInput(n_("There is {pages} page; pick a page from 1 to {pages}.",
                              "There are {pages} pages; pick a page from 1 to {pages}.", pages,
                              pages=i18n.number(pages)))
    return page
