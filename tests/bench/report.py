"""Figures -> ratios, targets (PASS/MISS, by how much and why), a text table and the docs."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from pathlib import Path
from typing import Any

DOCS_START = "<!-- bench:results:start -->"
DOCS_END = "<!-- bench:results:end -->"
SHARED_MACHINE_PERCENT = 25.0  # other processes' CPU (% of a core) worth mentioning
GENERATOR_LAG_MS = 10.0


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "     -"
    if value >= 1000:
        return f"{value / 1000:5.2f}s"
    if value >= 100:
        return f"{value:4.0f}ms"
    return f"{value:4.1f}ms"


def _ratio(ours: float | None, bare: float | None) -> float | None:
    if ours is None or bare is None or bare == 0:
        return None
    return round(ours / bare, 2)


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    distro = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    try:
        import psutil

        ram = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        ram = None

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram,
        "os": distro,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "discord.py": version("discord.py"),
        "aiohttp": version("aiohttp"),
        "aiosqlite": version("aiosqlite"),
        "sqlite": sqlite3.sqlite_version,
    }


# -- targets ---------------------------------------------------------------------------------
def _target(name: str, ok: bool | None, measured: str, goal: str, why: str = "") -> dict:
    status = "PASS" if ok else ("MISS" if ok is False else "N/A")
    return {"target": name, "status": status, "measured": measured, "goal": goal,
            "why": "" if ok else why}


def _step(bot: dict[str, Any] | None, name: str) -> dict[str, Any]:
    return (bot or {}).get("steps", {}).get(name) or {}


def judged(window: dict[str, Any]) -> tuple[float | None, float | None]:
    """The p50 and p99 a window is judged on: all its answers, or, when the measuring process
    itself stalled under some of them (``harness_stall_ms``), the others (``clean_*``), as long
    as they are at least half of the window; (None, None) when too few are left to judge."""
    if not window.get("harness_stall_ms"):
        return window.get("p50_ms"), window.get("p99_ms")
    if 2 * (window.get("clean_n") or 0) < window["n"]:
        return None, None
    return window.get("clean_p50_ms"), window.get("clean_p99_ms")


def normal_window(window: dict[str, Any], base: dict[str, Any]) -> bool:
    """A 1-s window is 'normal' when p50 <= 1.5 x base p50 + 1 ms and p99 <= 2 x base p99 +
    5 ms, base being the same bot's 200/s step. Answers the harness's own stalls delayed are
    left out (``judged``); a bot's stall delays answers outside those and still counts."""
    if not window.get("n") or base.get("p50_ms") is None or base.get("p99_ms") is None:
        return False
    p50, p99 = judged(window)
    if p50 is None or p99 is None:
        return False
    return p50 <= 1.5 * base["p50_ms"] + 1.0 and p99 <= 2.0 * base["p99_ms"] + 5.0


def recovery_seconds(bot: dict[str, Any], base_step: str) -> float | None:
    """Seconds after the overload stopped until every later 1-s window was normal."""
    rec = _step(bot, "recovery")
    base = _step(bot, base_step)
    windows = rec.get("windows") or []
    if not windows:
        return None
    last_bad = None
    for w in windows:
        if not normal_window(w, base):
            last_bad = w["t"]
    if last_bad is None:
        return 0.0
    if last_bad >= windows[-1]["t"]:
        return None  # never settled within the recovery step
    return round(last_bad + 1.0, 1)


def abnormal_windows(bot: dict[str, Any], base_step: str) -> str:
    """The recovery step's abnormal 1-s windows, each with the load generator's own lag (a
    window where the generator, which hosts the fake Discord that timestamps the answers, was
    late too was slowed by the machine, not only by the bot) and the measuring process's own
    stalls under its answers."""
    base = _step(bot, base_step)
    notes = []
    for w in _step(bot, "recovery").get("windows") or []:
        if normal_window(w, base):
            continue
        lag = w.get("gen_lag_p99_ms")
        note = (f"t={w['t']:g} s: p50 {fmt_ms(w.get('p50_ms')).strip()}, p99 "
                f"{fmt_ms(w.get('p99_ms')).strip()}, generator lag p99 {fmt_ms(lag).strip()}")
        if lag is not None and lag > GENERATOR_LAG_MS:
            note += " (the generator was late too)"
        if w.get("harness_stall_ms"):
            note += (f", the harness stalled {fmt_ms(w['harness_stall_ms']).strip()} under "
                     f"{w['n'] - w.get('clean_n', 0)} answers; the other {w.get('clean_n')}: "
                     f"p50 {fmt_ms(w.get('clean_p50_ms')).strip()}, p99 "
                     f"{fmt_ms(w.get('clean_p99_ms')).strip()}")
        notes.append(note)
    return "; ".join(notes) or "none"


def compare(results: dict[str, Any]) -> dict[str, Any]:
    ours = results["bots"].get("ours")
    bare = results["bots"].get("bare")
    out: dict[str, Any] = {"ratios": {}, "targets": []}
    if not ours or not bare:
        return out
    ratios = out["ratios"]
    for name in ours.get("steps", {}):
        o, b = _step(ours, name), _step(bare, name)
        if not b:
            continue
        ratios[name] = {k: _ratio(o.get(k), b.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms")}
        ratios[name]["bot_cpu_ms_per_interaction"] = _ratio(
            o.get("bot_cpu_ms_per_interaction"), b.get("bot_cpu_ms_per_interaction"))
    for key in ("ready_seconds", "rss_ready_mb", "rss_after_load_mb", "saturation_rate",
                "rss_max_overload_mb"):
        ratios[key] = _ratio(ours.get(key), bare.get(key))
    out["targets"] = targets(results)
    return out


def _context(ours: dict[str, Any], bare: dict[str, Any], names: list[str]) -> str:
    """Evidence for a miss: CPU per interaction, the machine's other load, generator lag."""
    notes = []
    for name in names:
        o, b = _step(ours, name), _step(bare, name)
        if not o:
            continue
        co, cb = o.get("bot_cpu_ms_per_interaction"), b.get("bot_cpu_ms_per_interaction")
        if co and cb:
            notes.append(f"{name}: our CPU per interaction {co} ms vs bare {cb} ms "
                         f"({fmt_ratio(_ratio(co, cb))})")
        other = [x for x in (o.get("other_cpu_percent"), b.get("other_cpu_percent"))
                 if x is not None]
        if other and max(other) >= SHARED_MACHINE_PERCENT:
            notes.append(f"{name}: other processes used {o.get('other_cpu_percent')}% of a "
                         f"core during our step, {b.get('other_cpu_percent')}% during bare's "
                         "(shared machine)")
        lag = o.get("generator_lag_p99_ms")
        if lag is not None and lag > GENERATOR_LAG_MS:
            notes.append(f"{name}: the load generator sent late (lag p99 {lag:.0f} ms)")
    return "; ".join(notes)


def _bare_tail(bare: dict[str, Any], step: dict[str, Any]) -> str:
    """What the bare bot's tail in ``step`` was: a garbage-collection pause or its work."""
    gc2 = (bare.get("gc_after_ready") or {}).get("gen2") or {}
    top, p50, p99 = step.get("max_ms"), step.get("p50_ms"), step.get("p99_ms")
    if not (gc2 and top and p50 and p99 and step.get("sent")):
        return ""
    whole_run = (f"(it ran {gc2.get('count')} full collection(s) after READY in the whole run, "
                 f"the longest {gc2.get('max_ms')} ms)")
    if top < 20 * p50:
        return (f"No garbage-collection pause reached the bare bot's {step.get('name')} step "
                f"{whole_run}: its max was {fmt_ms(top).strip()}, so its p99 is its work. ")
    # Commands arriving during a pause of `top` ms all wait for it: about rate * pause of them.
    hit = step.get("rate", 0) * top / 1000
    share = hit / step["sent"]
    where = ("fewer than the 1% a p99 sees, so its p99 is its work"
             if share < 0.01 else "enough to reach its p99")
    return (f"The bare bot's {step.get('name')} tail is a garbage-collection pause of about "
            f"{fmt_ms(top).strip()} {whole_run}: it delayed about {hit:.0f} of its "
            f"{step['sent']} commands ({share:.1%}), {where}. ")


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    ours, bare = results["bots"]["ours"], results["bots"]["bare"]
    base = "rate-200"
    o200, b200 = _step(ours, base), _step(bare, base)
    found = []

    # p50 within 2x of the bare bot at 200/s
    r = _ratio(o200.get("p50_ms"), b200.get("p50_ms"))
    found.append(_target(
        "p50 at 200/s within 2x of bare", None if r is None else r <= 2.0,
        f"{fmt_ms(o200.get('p50_ms')).strip()} vs {fmt_ms(b200.get('p50_ms')).strip()} "
        f"({fmt_ratio(r)})", "<= 2.00x",
        f"over by {r - 2.0:.2f}x ({o200['p50_ms'] - 2 * b200['p50_ms']:.2f} ms): the median "
        f"answer does work the bare bot does not (database, embeds, monitoring). "
        f"{_context(ours, bare, [base])}" if r else "no data"))

    # p99 no worse than the bare bot's
    r = _ratio(o200.get("p99_ms"), b200.get("p99_ms"))
    bare_gc = _bare_tail(bare, b200)
    found.append(_target(
        "p99 at 200/s no worse than bare", None if r is None else r <= 1.0,
        f"{fmt_ms(o200.get('p99_ms')).strip()} vs {fmt_ms(b200.get('p99_ms')).strip()} "
        f"({fmt_ratio(r)})", "<= 1.00x",
        f"over by {o200['p99_ms'] - b200['p99_ms']:.1f} ms ({r - 1:.0%}); our max was "
        f"{fmt_ms(o200.get('max_ms')).strip()}. {bare_gc}{_context(ours, bare, [base])}"
        if r else "no data"))

    # saturation at least half the bare bot's
    so, sb = ours.get("saturation_rate"), bare.get("saturation_rate")
    r = _ratio(so, sb)
    limited = bare.get("saturation_generator_limited") or ours.get("saturation_generator_limited")
    stop = str(ours.get("saturation_stop", "")).split(":")[0]
    stop_step = f"sat-{stop.rstrip('/s')}" if stop.endswith("/s") else ""
    found.append(_target(
        "saturation >= 0.5x bare", None if r is None else r >= 0.5,
        f"{so:.0f}/s vs {sb:.0f}/s ({fmt_ratio(r)})" if r else f"{so} vs {sb}", ">= 0.50x",
        (f"short by {0.5 * sb - so:.0f}/s of half the bare bot's {sb:.0f}/s; ours stopped at "
         f"{ours.get('saturation_stop')}. {_context(ours, bare, [stop_step])}"
         if r else "no data"))
        | ({"note": "the load generator limited the search"} if limited else {}))

    # RSS within 1.2x of the bare bot (after READY and after the load)
    r1 = _ratio(ours.get("rss_ready_mb"), bare.get("rss_ready_mb"))
    r2 = _ratio(ours.get("rss_after_load_mb"), bare.get("rss_after_load_mb"))
    present = [x for x in (r1, r2) if x is not None]
    worst = max(present) if present else None
    found.append(_target(
        "RSS within 1.2x of bare", None if worst is None else worst <= 1.2,
        f"ready {ours.get('rss_ready_mb')} vs {bare.get('rss_ready_mb')} MB ({fmt_ratio(r1)}), "
        f"after load {ours.get('rss_after_load_mb')} vs {bare.get('rss_after_load_mb')} MB "
        f"({fmt_ratio(r2)})", "<= 1.20x",
        f"over by {worst - 1.2:.2f}x: on top of discord.py the bot loads its cogs, aiosqlite, "
        "SQLite page caches of four connections, prometheus-client and monitoring"
        if worst else "no data"))

    # zero errors at the fixed rates
    bad = []
    for name, step in ours.get("steps", {}).items():
        if name.startswith("rate-") and (step.get("errors") or step.get("busy")):
            bad.append(f"{name}: {step.get('errors')} errors, {step.get('busy')} busy "
                       f"{step.get('error_samples')}")
    fake_errors = ours.get("fake_error_count", 0)
    if fake_errors:
        bad.append(f"fake Discord recorded {fake_errors} protocol errors "
                   f"{ours.get('fake_errors', [])[:3]}")
    found.append(_target(
        "zero errors at 50/200/500 per s", not bad,
        "0 errors, 0 busy" if not bad else "; ".join(bad)[:300], "0",
        "; ".join(bad)[:400] + (f". {_context(ours, bare, [n.split(':')[0] for n in bad])}"
                                if bad else "")))

    # overload: memory, answers within 3 s, recovery
    over = _step(ours, "overload")
    ready = ours.get("rss_ready_mb")
    peak = ours.get("rss_max_overload_mb")
    r = _ratio(peak, ready)
    found.append(_target(
        f"overload {ours.get('overload_rate', 0):.0f}/s: RSS within 1.5x of ready",
        None if r is None else r <= 1.5,
        f"peak {peak} MB vs ready {ready} MB ({fmt_ratio(r)}); bare: peak "
        f"{bare.get('rss_max_overload_mb')} MB vs {bare.get('rss_ready_mb')} MB "
        f"({fmt_ratio(_ratio(bare.get('rss_max_overload_mb'), bare.get('rss_ready_mb')))})",
        "<= 1.50x", f"over by {peak - 1.5 * ready:.0f} MB: the backlog was held in memory"
        if r else "no data"))
    late = (over.get("unanswered") or 0) + (over.get("over_3s") or 0)
    bare_over = _step(bare, "overload")
    found.append(_target(
        "overload: every interaction answered within 3 s", bool(over) and late == 0,
        f"{over.get('answered')} of {over.get('sent')} answered ({over.get('busy')} busy), "
        f"max {fmt_ms(over.get('max_ms')).strip()}; bare: max "
        f"{fmt_ms(bare_over.get('max_ms')).strip()}, {bare_over.get('over_3s')} over 3 s",
        "all, max <= 3 s",
        f"{late} of {over.get('sent')} answered late or never (worst "
        f"{fmt_ms(over.get('max_ms')).strip()}). {_context(ours, bare, ['overload'])}"))
    rec = recovery_seconds(ours, base)
    recovery = _step(ours, "recovery")
    stalls = recovery.get("harness_stalls") or []
    left_out = (f" ({recovery.get('disturbed')} answers under {len(stalls)} stall(s) of the "
                f"measuring process left out, the longest "
                f"{fmt_ms(max(x['ms'] for x in stalls)).strip()})" if stalls else "")
    found.append(_target(
        "latency normal within 10 s after the overload", None if not over else
        (rec is not None and rec <= 10.0),
        (f"normal {rec} s after the overload stopped" if rec is not None
         else "not normal by the end of the recovery step") + left_out, "<= 10 s",
        f"{'over by ' + format(rec - 10, '.0f') + ' s' if rec is not None else 'never'}: 1-s "
        "windows above 1.5x p50 + 1 ms or 2x p99 + 5 ms of the 200/s step: "
        f"{abnormal_windows(ours, base)[:600]}. {_context(ours, bare, ['recovery'])}"))
    return found


# -- text ------------------------------------------------------------------------------------
def step_rows(results: dict[str, Any]) -> list[list[str]]:
    rows = []
    ours = results["bots"].get("ours") or {}
    bare = results["bots"].get("bare") or {}
    names = [n for n in (ours.get("steps") or bare.get("steps") or {}) if n != "warmup"]
    for name in names:
        for label, bot in (("ours", ours), ("bare", bare)):
            s = _step(bot, name)
            if not s:
                continue
            rows.append([name if label == "ours" or not ours else "", label,
                         f"{s['rate']:.0f}", f"{s['achieved']:.0f}", fmt_ms(s["p50_ms"]),
                         fmt_ms(s["p95_ms"]), fmt_ms(s["p99_ms"]), fmt_ms(s["max_ms"]),
                         str(s["ok"]), str(s["busy"]), str(s["errors"]),
                         f"{s['bot_cpu_ms_per_interaction']}", f"{s.get('other_cpu_percent')}"])
        o, b = _step(ours, name), _step(bare, name)
        if o and b:
            rows.append(["", "ratio", "", "", fmt_ratio(_ratio(o["p50_ms"], b["p50_ms"])),
                         fmt_ratio(_ratio(o["p95_ms"], b["p95_ms"])),
                         fmt_ratio(_ratio(o["p99_ms"], b["p99_ms"])),
                         fmt_ratio(_ratio(o["max_ms"], b["max_ms"])), "", "", "",
                         fmt_ratio(_ratio(o["bot_cpu_ms_per_interaction"],
                                          b["bot_cpu_ms_per_interaction"])), ""])
    return rows


STEP_HEADER = ["step", "bot", "offered/s", "achieved/s", "p50", "p95", "p99", "max", "ok",
               "busy", "errors", "bot CPU ms/int", "other CPU %"]


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.strip() for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*row) for row in rows])


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    ours = results["bots"].get("ours") or {}
    bare = results["bots"].get("bare") or {}
    rows = []
    for key, label in (("ready_seconds", "start -> READY (s)"),
                       ("rss_ready_mb", "RSS after READY (MB)"),
                       ("rss_after_load_mb", "RSS after the load (MB)"),
                       ("saturation_rate", "saturation (interactions/s)"),
                       ("overload_rate", "overload rate (/s)"),
                       ("rss_max_overload_mb", "peak RSS, overload (MB)"),
                       ("rss_after_recovery_mb", "RSS after recovery (MB)")):
        rows.append([label, str(ours.get(key, "-")), str(bare.get(key, "-")),
                     fmt_ratio(_ratio(ours.get(key), bare.get(key)))])
    gc2 = ((bare.get("gc_after_ready") or {}).get("gen2") or {})
    if gc2:
        rows.append(["full GCs after READY (longest)", "-",
                     f"{gc2.get('count')} ({gc2.get('max_ms')} ms)", ""])
    rec_o = recovery_seconds(ours, "rate-200") if ours else None
    rec_b = recovery_seconds(bare, "rate-200") if bare else None
    rows.append(["recovery: latency normal after the overload (s)", str(rec_o), str(rec_b),
                 ""])
    return rows


def shared_note(results: dict[str, Any]) -> str:
    """One line on how busy the rest of the machine was, from every step's 'other CPU'."""
    values = [step.get("other_cpu_percent") or 0.0 for bot in results["bots"].values()
              for step in bot.get("steps", {}).values()]
    before = results["machine"].get("before_run", {}).get("other_cpu_percent")
    if not values:
        return ""
    note = (f"other processes on the machine: {before}% of a core before the run, "
            f"{min(values):.0f}-{max(values):.0f}% during the steps")
    if max(values) >= SHARED_MACHINE_PERCENT:
        note += " (shared machine: latency and saturation figures are pessimistic)"
    return note


def render_text(results: dict[str, Any]) -> str:
    m = results["machine"]
    plan = results["plan"]
    parts = [
        "",
        f"guildbot benchmark ({results['mode']}): {plan['size']['guilds']:,} guilds, "
        f"{plan['size']['members']:,} registered members, open loop; latency = "
        "INTERACTION_CREATE sent -> callback received",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}, kernel "
        f"{m['kernel']}, Python {m['python']}, discord.py {m['discord.py']}",
        shared_note(results),
        "",
        _table(STEP_HEADER, step_rows(results), markdown=False),
        "",
        _table(["", "ours", "bare", "ours/bare"], summary_rows(results), markdown=False),
    ]
    found = results.get("comparison", {}).get("targets") or []
    if found:
        parts += ["", "targets:"]
        for t in found:
            parts.append(f"  [{t['status']}] {t['target']}: {t['measured']} (goal {t['goal']})")
            if t["why"]:
                parts.append(f"         why: {t['why']}")
    for label in ("ours", "bare"):
        bot = results["bots"].get(label) or {}
        if bot.get("saturation_stop"):
            parts.append(f"{label}: saturation search stopped at {bot['saturation_stop']}")
    parts.append(f"total {results.get('total_seconds')} s")
    return "\n".join(parts)


def render_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    plan = results["plan"]
    found = results.get("comparison", {}).get("targets") or []
    lines = [
        f"Run {results['started_at']} ({results['mode']}, {results['total_seconds']} s in all): "
        f"{plan['size']['guilds']:,} guilds, {plan['size']['members']:,} registered members.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, kernel "
        f"{m['kernel']}, Python {m['python']}, discord.py {m['discord.py']}, aiohttp "
        f"{m['aiohttp']}, aiosqlite {m['aiosqlite']}, SQLite {m['sqlite']}.",
        "",
        shared_note(results).capitalize() + ".",
        "",
        _table(STEP_HEADER, step_rows(results), markdown=True),
        "",
        _table(["", "ours", "bare", "ours/bare"], summary_rows(results), markdown=True),
        "",
        "| target | status | measured | goal | why (when missed) |",
        "|---|---|---|---|---|",
    ]
    for t in found:
        lines.append(f"| {t['target']} | **{t['status']}** | {t['measured']} | {t['goal']} | "
                     f"{t['why']} |")
    for label in ("ours", "bare"):
        bot = results["bots"].get(label) or {}
        if bot.get("saturation_stop"):
            lines.append("")
            lines.append(f"{label}: saturation search stopped at {bot['saturation_stop']}.")
    return "\n".join(lines)


def write_docs(path: Path, results: dict[str, Any]) -> None:
    """Replace the block between the result markers (create the file if needed)."""
    block = f"{DOCS_START}\n{render_markdown(results)}\n{DOCS_END}"
    text = path.read_text() if path.exists() else f"# Benchmark\n\n{DOCS_START}\n{DOCS_END}\n"
    if DOCS_START in text and DOCS_END in text:
        head, rest = text.split(DOCS_START, 1)
        _, tail = rest.split(DOCS_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
