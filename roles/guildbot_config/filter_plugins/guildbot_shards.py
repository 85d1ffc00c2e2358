"""Shard assignment from the inventory: the one place that decides which process runs which shard.

    groups['guildbot'] | guildbot_shard_plan(hostvars)

reads, per bot host, ``guildbot_cluster`` (hosts sharing one bot token and one database; default
``guildbot``: the whole inventory), ``guildbot_shard_count`` (0 = unsharded), ``guildbot_processes``
(default 1), the optional override ``guildbot_shard_ids`` (one spec such as ``0-3`` or ``4,5`` per
process of the host) and ``guildbot_database_url``. It returns

    {"hosts": {host: [{"index": 0, "shards": [0, 1], "shard_ids": "0-1", "shard_count": 4}, ...]},
     "problems": ["cluster guildbot: shard 1 would be served by more than one process: ...", ...]}

Processes without an override get the shards no override claims, in inventory order (host by host,
process by process), as contiguous blocks whose sizes differ by at most one. ``shard_ids`` is ""
for a process that runs every shard (GUILDBOT_SHARD_IDS is then left unset, so one process on
SQLite keeps working). The plan is only good when ``problems`` is empty: every shard served by
exactly one process, every process given at least one shard, and processes that run only some
shards on PostgreSQL (the bot refuses GUILDBOT_SHARD_IDS on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

DEFAULT_CLUSTER = "guildbot"


def format_ids(ids: Iterable[int]) -> str:
    """Sorted ids as GUILDBOT_SHARD_IDS writes them: runs as ``a-b``, others alone: ``0-3,5``."""
    parts: list[str] = []
    run: list[int] = []
    for shard in sorted(set(ids)):
        if run and shard == run[-1] + 1:
            run.append(shard)
            continue
        if run:
            parts.append(_run(run))
        run = [shard]
    if run:
        parts.append(_run(run))
    return ",".join(parts)


def _run(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def parse_ids(spec: object, shard_count: int) -> list[int]:
    """``0-3``, ``4,5`` or a mix (the bot's GUILDBOT_SHARD_IDS syntax), each below shard_count."""
    ids: set[int] = set()
    for part in str(spec).replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"{part!r} is not a shard id or range (give e.g. 0-3 or 4,5)")
        first, last = int(low), int(high) if dash else int(low)
        if first > last or last >= shard_count:
            raise ValueError(f"{part!r} is outside 0-{shard_count - 1}")
        ids.update(range(first, last + 1))
    return sorted(ids)


def _whole(value: object, minimum: int) -> int | None:
    """value as an int >= minimum, or None (inventory values may arrive as strings)."""
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= minimum else None


def blocks(shards: Sequence[int], processes: int) -> list[list[int]]:
    """shards cut into `processes` contiguous blocks, the first ones one longer when uneven."""
    size, extra = divmod(len(shards), processes)
    out, start = [], 0
    for index in range(processes):
        end = start + size + (1 if index < extra else 0)
        out.append(list(shards[start:end]))
        start = end
    return out


def plan(hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The shard plan of every cluster the hosts belong to (see the module docstring)."""
    clusters: dict[str, list[str]] = {}
    for host in hosts:
        name = str(hostvars[host].get("guildbot_cluster", DEFAULT_CLUSTER))
        clusters.setdefault(name, []).append(host)
    result: dict[str, Any] = {"hosts": {}, "problems": []}
    for name, members in clusters.items():
        assigned, problems = _cluster(members, hostvars)
        result["hosts"].update(assigned)
        result["problems"].extend(f"cluster {name}: {problem}" for problem in problems)
    return result


def _cluster(hosts: list[str], hostvars: Mapping[str, Mapping[str, Any]],
             ) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    problems: list[str] = []
    counts = {host: hostvars[host].get("guildbot_shard_count", 0) for host in hosts}
    shard_count = _whole(counts[hosts[0]], 0)
    if shard_count is None or any(_whole(c, 0) != shard_count for c in counts.values()):
        listed = ", ".join(f"{host}={count}" for host, count in counts.items())
        return {}, [f"guildbot_shard_count must be one whole number >= 0 for all its hosts "
                    f"(got {listed})"]

    # (host, index, shards or None for "assign automatically")
    processes: list[tuple[str, int, list[int] | None]] = []
    for host in hosts:
        count = _whole(hostvars[host].get("guildbot_processes", 1), 1)
        if count is None:
            problems.append(f"{host}: guildbot_processes must be a whole number >= 1 "
                            f"(got {hostvars[host].get('guildbot_processes')!r})")
            continue
        override = hostvars[host].get("guildbot_shard_ids")
        if override is None:
            processes.extend((host, index, None) for index in range(count))
            continue
        if isinstance(override, str) or not isinstance(override, Sequence) \
                or len(override) != count:
            problems.append(f"{host}: guildbot_shard_ids must list one shard spec per process "
                            f"({count}, guildbot_processes), e.g. ['0-1', '2-3']; got "
                            f"{override!r}")
            continue
        if shard_count == 0:
            problems.append(f"{host}: guildbot_shard_ids needs guildbot_shard_count > 0")
            continue
        for index, spec in enumerate(override):
            try:
                processes.append((host, index, parse_ids(spec, shard_count)))
            except ValueError as exc:
                problems.append(f"{host}: guildbot_shard_ids[{index}]: {exc}")
    if problems:
        return {}, problems

    if shard_count == 0:
        if len(processes) > 1:
            listed = ", ".join(_name(host, index) for host, index, _ in processes)
            problems.append(f"unsharded (guildbot_shard_count 0) but {len(processes)} processes "
                            f"({listed}) would each serve every guild; set guildbot_shard_count "
                            f"to at least {len(processes)}, or run one process")
        return {host: [_entry(index, [], 0)] for host, index, _ in processes}, problems

    automatic = [(host, index) for host, index, shards in processes if shards is None]
    claimed = {shard for _, _, shards in processes if shards is not None for shard in shards}
    free = [shard for shard in range(shard_count) if shard not in claimed]
    if len(automatic) > len(free):
        listed = ", ".join(_name(host, index) for host, index in automatic)
        problems.append(f"{len(automatic)} processes ({listed}) share {len(free)} unclaimed "
                        f"shard(s) of {shard_count}: a process would have no shard; raise "
                        f"guildbot_shard_count or lower guildbot_processes")
        return {}, problems
    given = iter(blocks(free, len(automatic)) if automatic else [])
    final = [(host, index, shards if shards is not None else next(given))
             for host, index, shards in processes]

    owners: dict[int, list[str]] = {}
    for host, index, shards in final:
        for shard in shards:
            owners.setdefault(shard, []).append(f"{_name(host, index)} ({format_ids(shards)})")
    shared: dict[tuple[str, ...], list[int]] = {}
    for shard in sorted(owners):
        if len(owners[shard]) > 1:
            shared.setdefault(tuple(owners[shard]), []).append(shard)
    for names, shards in shared.items():
        problems.append(f"shard(s) {format_ids(shards)} would be served by more than one "
                        f"process: {', '.join(names)}")
    orphans = [shard for shard in range(shard_count) if shard not in owners]
    if orphans:
        problems.append(f"shard(s) {format_ids(orphans)} of {shard_count} would have no process")
    for host in hosts:
        url = str(hostvars[host].get("guildbot_database_url", "") or "")
        partial = [index for h, index, shards in final if h == host and len(shards) < shard_count]
        if partial and not url.startswith(("postgresql://", "postgres://")):
            problems.append(f"{host}: its processes run only some of the shards, which needs the "
                            f"shared PostgreSQL database (SQLite is one process with every shard): "
                            f"set guildbot_database_url to a postgresql:// URL")

    assigned: dict[str, list[dict[str, Any]]] = {}
    for host, index, shards in final:
        assigned.setdefault(host, []).append(_entry(index, shards, shard_count))
    return assigned, problems


def _name(host: str, index: int) -> str:
    return f"{host} process {index}"


def _entry(index: int, shards: list[int], shard_count: int) -> dict[str, Any]:
    every = len(shards) == shard_count
    return {"index": index, "shards": shards, "shard_count": shard_count,
            "shard_ids": "" if every else format_ids(shards)}


class FilterModule:
    """guildbot_shard_plan: see the module docstring."""

    def filters(self) -> dict[str, Any]:
        return {"guildbot_shard_plan": plan}
