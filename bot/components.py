"""Buttons, select menus and modals that keep working across restarts and processes.

Nothing about a component lives in a process's memory: its ``custom_id`` carries everything a
click needs, ``gb1:<family>:<action>:<guild id>[:<number>...]`` (``gb1`` is the format's
version), and every click is decided again from the database and the domain's rules, for the
guild and the member the interaction comes from. The guild in a ``custom_id`` is only checked
against ``interaction.guild_id`` (a ``custom_id`` of guild A replayed in guild B is refused); the
repository bound to ``interaction.guild_id`` is the authority.

The bot's ``on_interaction`` hands every component and modal interaction to
:meth:`bot.app.GuildBotTree.run_component`, which parses the ``custom_id``, finds the handler the
cogs registered with :func:`handler` and runs it behind the same admission, maintenance, error
replies and usage recording as a slash command (name ``button:challenge-accept``,
``select:challenge-pick``, ``modal:admin-purge``...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.domain.errors import InvalidInput
from bot.i18n import N_, _

if TYPE_CHECKING:
    from bot.domain.audit import AuditEntry
    from bot.monitoring.hooks import MonitoringHooks
    from bot.storage.base import Storage

VERSION = "gb1"
# custom_id family -> the command group its usage is recorded (and maintenance decided) under
FAMILIES = {"ch": "challenge", "lb": "leaderboard", "ad": "admin", "pv": "privacy"}
KINDS = {discord.ComponentType.button.value: "button",
         discord.ComponentType.string_select.value: "select"}
FOREIGN = N_("This button belongs to another server; nothing was changed.")



class ComponentBot(Protocol):
    """What a component handler uses of the bot (bot.app.GuildBot is one): the guild's
    repository (``storage``), the time, the monitoring hooks and the audit trail (the purge
    modal), and a channel's message to edit (a challenge's post, bot.posts.refresh)."""

    @property
    def storage(self) -> Storage: ...
    @property
    def monitoring(self) -> MonitoringHooks: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    def audit(self, entry: AuditEntry, /) -> Awaitable[None]: ...
    def get_partial_messageable(self, channel_id: int, /) -> discord.PartialMessageable: ...


# A handler is handed the bot by the command tree (GuildBotTree.run_component).
Handler = Callable[[ComponentBot, discord.Interaction, "ComponentId"], Awaitable[None]]
_HANDLERS: dict[tuple[str, str], Handler] = {}


@dataclass(frozen=True, slots=True)
class ComponentId:
    family: str
    action: str
    guild_id: int
    args: tuple[int, ...] = ()

    def __str__(self) -> str:
        return ":".join([VERSION, self.family, self.action, str(self.guild_id),
                         *map(str, self.args)])


def make_id(family: str, action: str, guild_id: int, *args: int) -> str:
    """The ``custom_id`` of a component or modal (at most 100 characters, as Discord wants)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown component family {family!r}")
    return str(ComponentId(family, action, guild_id, tuple(args)))


def parse_id(custom_id: str) -> ComponentId | None:
    """The parts of one of our ``custom_id``s; None for anything else (another format, a
    version this release does not know, a malformed or forged one)."""
    parts = custom_id.split(":")
    if len(parts) < 4 or parts[0] != VERSION or parts[1] not in FAMILIES:
        return None
    numbers = parts[3:]
    if not all(p.isdigit() and len(p) <= 20 for p in numbers):
        return None
    return ComponentId(parts[1], parts[2], int(numbers[0]), tuple(int(p) for p in numbers[1:]))


def handler(family: str, action: str) -> Callable[[Handler], Handler]:
    """Register the coroutine that handles ``custom_id``s of ``family``/``action``."""
    def register(fn: Handler) -> Handler:
        _HANDLERS[(family, action)] = fn
        return fn
    return register


def number(cid: ComponentId) -> int:
    """The one number after the guild (a challenge, a page, a member); anything else is a
    component this release does not know."""
    if len(cid.args) != 1:
        raise InvalidInput(_("This button is not one I know any more; use the slash commands."))
    return cid.args[0]


def find_handler(cid: ComponentId) -> Handler | None:
    return _HANDLERS.get((cid.family, cid.action))


def usage_name(interaction: discord.Interaction, cid: ComponentId | None) -> str:
    """The name a component or modal interaction is recorded under: ``<kind>:<group>-<action>``
    (``button:challenge-accept``); the group is what maintenance decides on."""
    data: Any = interaction.data or {}
    if interaction.type is discord.InteractionType.modal_submit:
        kind = "modal"
    else:
        kind = KINDS.get(data.get("component_type"), "component")
    if cid is None:
        return f"{kind}:unknown"
    return f"{kind}:{FAMILIES[cid.family]}-{cid.action}"[:32]


def shown_name(command: str) -> str:
    """A recorded name as members and operators know it: ``/leaderboard`` for a slash command,
    ``button:leaderboard-next``, ``modal:admin-purge``, ``autocomplete:challenge accept`` as
    recorded (no slash: they are not commands; never a ``custom_id``'s numbers)."""
    return command if ":" in command else f"/{command}"


def check_guild(interaction: discord.Interaction, cid: ComponentId) -> None:
    """A ``custom_id`` acts only in the guild it was made for."""
    if interaction.guild_id is None or cid.guild_id != interaction.guild_id:
        raise InvalidInput(_(FOREIGN))


def frozen(*items: discord.ui.Item[Any]) -> discord.ui.View:
    """A view holding ``items``, stopped before it is sent: discord.py then keeps nothing of it
    in memory (clicks reach ``on_interaction`` by their ``custom_id`` instead). Made in the
    event loop, as every handler is (a view made outside one cannot be stopped)."""
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    view.stop()
    return view


def button(label: str, custom_id: str, *, style: discord.ButtonStyle = discord.ButtonStyle.grey,
           disabled: bool = False, row: int | None = None) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, custom_id=custom_id, style=style, disabled=disabled,
                             row=row)


def text_modal(title: str, custom_id: str, field_id: str, label: str, *,
               placeholder: str | None = None, max_length: int = 100) -> discord.ui.Modal:
    """A modal of one text input, stopped before it is sent (see :func:`frozen`)."""
    modal = discord.ui.Modal(title=title, custom_id=custom_id, timeout=None)
    modal.add_item(discord.ui.TextInput(label=label, custom_id=field_id, placeholder=placeholder,
                                        max_length=max_length))
    modal.stop()
    return modal


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk(component.get("components") or [])
        if component.get("component"):
            yield from _walk([component["component"]])


def modal_values(interaction: discord.Interaction) -> dict[str, str]:
    """The submitted text inputs of a modal: custom_id -> value (action rows or labels)."""
    data: Any = interaction.data or {}
    return {c["custom_id"]: c.get("value") or "" for c in _walk(data.get("components") or [])
            if "custom_id" in c and "value" in c}


def selected(interaction: discord.Interaction) -> list[str]:
    data: Any = interaction.data or {}
    return [str(v) for v in data.get("values") or []]
