"""The fake Discord's world: users, guilds, channels, members, messages and synced commands.

Everything is kept in dicts keyed by snowflake so that every lookup a request needs is O(1),
whatever the number of guilds (the benchmark creates 10,000). Gateway and REST payloads are built
on demand from these objects; nothing is pre-serialised.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

Named = TypeVar("Named")

DISCORD_EPOCH_MS = 1_420_070_400_000

# Discord permission bits (https://discord.com/developers/docs/topics/permissions).
PERMISSION_BITS: dict[str, int] = {
    "create_instant_invite": 0,
    "kick_members": 1,
    "ban_members": 2,
    "administrator": 3,
    "manage_channels": 4,
    "manage_guild": 5,
    "add_reactions": 6,
    "view_audit_log": 7,
    "priority_speaker": 8,
    "stream": 9,
    "view_channel": 10,
    "read_messages": 10,
    "send_messages": 11,
    "send_tts_messages": 12,
    "manage_messages": 13,
    "embed_links": 14,
    "attach_files": 15,
    "read_message_history": 16,
    "mention_everyone": 17,
    "use_external_emojis": 18,
    "view_guild_insights": 19,
    "connect": 20,
    "speak": 21,
    "mute_members": 22,
    "deafen_members": 23,
    "move_members": 24,
    "use_vad": 25,
    "change_nickname": 26,
    "manage_nicknames": 27,
    "manage_roles": 28,
    "manage_webhooks": 29,
    "manage_expressions": 30,
    "use_application_commands": 31,
    "request_to_speak": 32,
    "manage_events": 33,
    "manage_threads": 34,
    "create_public_threads": 35,
    "create_private_threads": 36,
    "use_external_stickers": 37,
    "send_messages_in_threads": 38,
    "use_embedded_activities": 39,
    "moderate_members": 40,
    "view_creator_monetization_analytics": 41,
    "use_soundboard": 42,
    "create_expressions": 43,
    "create_events": 44,
    "use_external_sounds": 45,
    "send_voice_messages": 46,
    "send_polls": 49,
    "use_external_apps": 50,
}
ALL_PERMISSIONS = sum(1 << b for b in set(PERMISSION_BITS.values()))


def parse_permissions(value: int | str | None) -> int:
    """Turn ``"manage_guild"``, ``"manage_guild,kick_members"``, ``"0x20"`` or ``32`` into bits."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError("permissions must be an int or a comma-separated string of names")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text:
        return 0
    try:
        return int(text, 0)
    except ValueError:
        pass
    bits = 0
    for name in text.replace("|", ",").split(","):
        name = name.strip().lower()
        if not name:
            continue
        if name not in PERMISSION_BITS:
            raise ValueError(f"unknown permission name {name!r}")
        bits |= 1 << PERMISSION_BITS[name]
    return bits


DEFAULT_EVERYONE_PERMISSIONS = parse_permissions(
    "create_instant_invite,add_reactions,stream,view_channel,send_messages,embed_links,"
    "attach_files,read_message_history,use_external_emojis,connect,speak,use_vad,change_nickname,"
    "use_application_commands,create_public_threads,create_private_threads,use_external_stickers,"
    "send_messages_in_threads,use_embedded_activities,send_voice_messages,send_polls"
)


def effective_permissions(bits: int) -> int:
    """Administrator implies every permission, as Discord computes it."""
    if bits & (1 << PERMISSION_BITS["administrator"]):
        return ALL_PERMISSIONS
    return bits


def iso_timestamp(ts: float | None = None) -> str:
    when = _dt.datetime.fromtimestamp(time.time() if ts is None else ts, tz=_dt.UTC)
    return when.isoformat()


class SnowflakeGenerator:
    """Monotonic snowflakes whose timestamp part advances by one millisecond per id.

    Advancing the timestamp (not only the increment bits) spreads consecutive guild ids over
    shards, because Discord routes a guild to shard ``(guild_id >> 22) % shard_count``.
    """

    def __init__(self, start_ms: int | None = None) -> None:
        if start_ms is None:
            # Start a while in the past so ids never lie in the future, even after millions.
            start_ms = int(time.time() * 1000) - 30 * 24 * 3600 * 1000
        self._counter = itertools.count(start_ms - DISCORD_EPOCH_MS)

    def __call__(self) -> int:
        return (next(self._counter) << 22) | (1 << 17)


class GuildIdGenerator(SnowflakeGenerator):
    """Guild ids on their own stream (worker 2): consecutive guilds land on consecutive shards,
    however many channels and members are created in between."""

    def __call__(self) -> int:
        return (next(self._counter) << 22) | (2 << 17)


class ClockSnowflakeGenerator:
    """Snowflakes stamped with the current time, as Discord stamps interactions: bots read an
    interaction's age from its id to know how much of the 3 s answer window is left."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22 | (3 << 17)
        self._last = max(now, self._last + 1)
        return self._last


def snowflake_time_ms(snowflake: int) -> int:
    return (snowflake >> 22) + DISCORD_EPOCH_MS


@dataclass(eq=False, slots=True)
class User:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.name,
            "avatar": None,
            "discriminator": "0",
            "public_flags": 0,
            "flags": 0,
            "global_name": self.global_name,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    def __repr__(self) -> str:
        return f"<User {self.name} id={self.id}{' bot' if self.bot else ''}>"


@dataclass(eq=False, slots=True)
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0

    def to_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass(eq=False, slots=True)
class Channel:
    id: int
    guild: Guild
    name: str
    type: int = 0  # 0 text, 2 voice, 4 category, 5 announcement
    position: int = 0

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "flags": 0,
        }
        if self.type in (0, 5):
            data.update(topic=None, last_message_id=None, rate_limit_per_user=0)
        elif self.type == 2:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        return data

    def partial_payload(self, permissions: int) -> dict[str, Any]:
        """The channel object embedded in an interaction."""
        data = self.to_payload()
        data["permissions"] = str(permissions)
        return data

    def __repr__(self) -> str:
        return f"<Channel #{self.name} id={self.id} guild={self.guild.id}>"


@dataclass(eq=False, slots=True)
class Member:
    user: User
    guild: Guild
    permissions: int  # effective guild-level permissions (what interactions carry)
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=iso_timestamp)
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def name(self) -> str:
        return self.user.name

    def to_payload(
        self, *, with_user: bool = True, with_permissions: bool = False
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.to_payload()
        if with_permissions:
            data["permissions"] = str(self.permissions)
        return data

    def __repr__(self) -> str:
        return f"<Member {self.user.name} id={self.user.id} guild={self.guild.id}>"


@dataclass(eq=False, slots=True)
class Guild:
    id: int
    name: str
    state: State
    owner_id: int = 0
    locale: str = "en-US"
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    roles: dict[int, Role] = field(default_factory=dict)
    system_channel: Channel | None = None
    joined: bool = True  # the bot is a member (included in READY)
    joined_at: str = field(default_factory=iso_timestamp)
    index: int = 0

    @property
    def everyone_role(self) -> Role:
        return self.roles[self.id]

    @property
    def member_list(self) -> list[Member]:
        return list(self.members.values())

    @property
    def channel_list(self) -> list[Channel]:
        return list(self.channels.values())

    @property
    def shard_key(self) -> int:
        return self.id >> 22

    def shard_id(self, shard_count: int) -> int:
        return (self.id >> 22) % max(shard_count, 1)

    def add_channel(self, name: str, type: int = 0) -> Channel:  # noqa: A002 - Discord's name
        channel = Channel(
            id=self.state.snowflake(), guild=self, name=name, type=type, position=len(self.channels)
        )
        self.channels[channel.id] = channel
        self.state.channels[channel.id] = channel
        if self.system_channel is None and type == 0:
            self.system_channel = channel
        return channel

    def role_for_permissions(self, bits: int) -> Role:
        for role in self.roles.values():
            if role.permissions == bits and role.id != self.id:
                return role
        role = Role(
            id=self.state.snowflake(),
            name=f"perms-{bits:x}",
            permissions=bits,
            position=len(self.roles),
        )
        self.roles[role.id] = role
        return role

    def add_member(
        self,
        name: str = "member",
        user_id: int | None = None,
        permissions: int | str | None = None,
        bot: bool = False,
        *,
        owner: bool = False,
        nick: str | None = None,
    ) -> Member:
        """Add a member. ``permissions`` are granted on top of @everyone through a role."""
        state = self.state
        user = state.users.get(user_id) if user_id is not None else None
        if user is None:
            user = User(
                id=user_id if user_id is not None else state.snowflake(), name=name, bot=bot
            )
            state.users[user.id] = user
        extra = parse_permissions(permissions)
        roles: list[int] = []
        if extra & ~self.everyone_role.permissions:
            roles.append(self.role_for_permissions(extra).id)
        if owner:
            self.owner_id = user.id
        total = self.everyone_role.permissions | extra
        member = Member(
            user=user,
            guild=self,
            permissions=ALL_PERMISSIONS if owner else effective_permissions(total),
            roles=roles,
            nick=nick,
        )
        self.members[user.id] = member
        return member

    def member(self, ref: int | str | Member) -> Member:
        """A member by index (int < 10**6), id or name."""
        if isinstance(ref, Member):
            return ref
        return _find(self.members, ref, lambda m: m.user.name, f"member of guild {self.name}")

    def channel(self, ref: int | str | Channel | None) -> Channel:
        """A channel by index, id or name; ``None`` means the system channel."""
        if isinstance(ref, Channel):
            return ref
        if ref is None:
            if self.system_channel is None:
                raise KeyError(f"guild {self.name} has no text channel")
            return self.system_channel
        return _find(self.channels, ref, lambda c: c.name, f"channel of guild {self.name}")

    def bot_member_payload(self) -> dict[str, Any]:
        """The bot's own member (no roles, no nick; it joined with the guild)."""
        return Member(user=self.state.bot_user, guild=self, permissions=0,
                      joined_at=self.joined_at).to_payload()

    def create_payload(self, *, join: bool = False) -> dict[str, Any]:
        """The GUILD_CREATE payload, as Discord sends it without the presences intent.

        Only the bot's own member is included (Discord does the same for bots without
        GUILD_PRESENCES); ``member_count`` still counts everyone. ``unavailable: false`` marks a
        guild announced unavailable in READY; a guild the bot just joined has no such key
        (discord.py tells ``on_guild_available`` and ``on_guild_join`` apart by it).
        """
        payload = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "features": [],
            "preferred_locale": self.locale,
            "system_channel_id": str(self.system_channel.id) if self.system_channel else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "application_id": None,
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": self.joined_at,
            "large": len(self.members) + 1 >= 250,
            "unavailable": False,
            "member_count": len(self.members) + 1,
            "voice_states": [],
            "members": [self.bot_member_payload()],
            "channels": [c.to_payload() for c in self.channels.values()],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
        }
        if join:
            del payload["unavailable"]
        return payload

    def __repr__(self) -> str:
        return f"<Guild {self.name} id={self.id} members={len(self.members)}>"


def _find(items: dict[int, Named], ref: int | str, name_of: Callable[[Named], str],
          what: str) -> Named:
    """One of ``items`` (``what`` they are, for the error) by name (a non-numeric string),
    index (a number below 10**6) or id."""
    if isinstance(ref, str) and not ref.isdigit():
        for item in items.values():
            if name_of(item) == ref:
                return item
        raise KeyError(f"no {what} is named {ref!r}")
    number = int(ref)
    if number < 1_000_000:
        return list(items.values())[number]
    return items[number]


@dataclass(eq=False, slots=True)
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self, base_url: str) -> dict[str, Any]:
        url = f"{base_url}/attachments/{self.id}/{self.filename}"
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": url,
            "proxy_url": url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass(eq=False, slots=True)
class Message:
    """A message the bot created (channel message, interaction response or follow-up)."""

    id: int
    channel_id: int
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    guild_id: int | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None
    edited_at: float | None = None
    deleted: bool = False
    created_at: float = field(default_factory=time.time)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    def to_payload(self, base_url: str, interaction_metadata: dict[str, Any] | None = None) -> dict:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "content": self.content,
            "author": self.author.to_payload(),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "attachments": [a.to_payload(base_url) for a in self.attachments],
            "embeds": [e if "type" in e else {**e, "type": "rich"} for e in self.embeds],
            "components": self.components,
            "timestamp": iso_timestamp(self.created_at),
            "edited_timestamp": iso_timestamp(self.edited_at) if self.edited_at else None,
            "flags": self.flags,
            "pinned": False,
            "tts": False,
        }
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if interaction_metadata is not None:
            data["interaction_metadata"] = interaction_metadata
        return data

    def __repr__(self) -> str:
        return f"<Message id={self.id} channel={self.channel_id} content={self.content[:40]!r}>"


class State:
    """All objects of the fake Discord, indexed by id."""

    def __init__(self, *, bot_name: str = "guildbot", bot_id: int | None = None) -> None:
        self.snowflake = SnowflakeGenerator()
        self.guild_snowflake = GuildIdGenerator()
        self.interaction_snowflake = ClockSnowflakeGenerator()
        self.application_id = bot_id if bot_id is not None else self.snowflake()
        self.bot_user = User(id=self.application_id, name=bot_name, bot=True)
        self.owner_user = User(id=self.snowflake(), name="owner")
        self.users: dict[int, User] = {
            self.bot_user.id: self.bot_user,
            self.owner_user.id: self.owner_user,
        }
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: defaultdict[int, list[Message]] = defaultdict(list)
        # "global" or a guild id -> list of ApplicationCommandResponse dicts
        self.commands: dict[str | int, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[str | int, int, str], int] = {}
        self.bot_permissions = DEFAULT_EVERYONE_PERMISSIONS | parse_permissions(
            "manage_messages,mention_everyone"
        )

    def add_guild(
        self,
        name: str | None = None,
        *,
        guild_id: int | None = None,
        channels: tuple[str, ...] = ("general",),
        joined: bool = True,
        locale: str = "en-US",
    ) -> Guild:
        gid = guild_id if guild_id is not None else self.guild_snowflake()
        guild = Guild(
            id=gid,
            name=name or f"guild-{len(self.guilds)}",
            state=self,
            owner_id=self.owner_user.id,
            joined=joined,
            locale=locale,
            index=len(self.guilds),
        )
        guild.roles[gid] = Role(id=gid, name="@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS)
        for channel_name in channels:
            guild.add_channel(channel_name)
        self.guilds[gid] = guild
        return guild

    def guild(self, ref: int | str | Guild) -> Guild:
        """A guild by index (int < 10**6), id or name."""
        if isinstance(ref, Guild):
            return ref
        if isinstance(ref, str) and not ref.isdigit():
            for guild in self.guilds.values():
                if guild.name == ref:
                    return guild
            raise KeyError(f"no guild named {ref!r}")
        number = int(ref)
        if number < 1_000_000:
            return list(self.guilds.values())[number]
        return self.guilds[number]

    def command_id(self, scope: str | int, cmd_type: int, name: str) -> int:
        """Discord keeps a command's id stable across bulk overwrites when name+type match."""
        key = (scope, cmd_type, name)
        cid = self._command_ids.get(key)
        if cid is None:
            cid = self._command_ids[key] = self.snowflake()
        return cid

    def find_command(self, guild_id: int | None, name: str) -> dict[str, Any] | None:
        """The synced chat-input command a client would invoke in that guild (guild first)."""
        scopes: list[str | int] = [guild_id] if guild_id is not None else []
        scopes.append("global")
        for scope in scopes:
            for command in self.commands.get(scope, ()):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        return None
