"""Alerting against a fake Discord webhook on loopback: incidents, 429, caps, dead webhooks."""

from __future__ import annotations

import json

import pytest

from bot.config import AlertThresholds, Secret, Settings
from bot.monitoring.alerting import (
    WEBHOOK_STATE_FILE,
    AlertDelivery,
    AlertEngine,
    Rule,
    Transition,
    WebhookLimiter,
    backup_age_hours,
    default_rules,
    read_backup_status,
    retry_after,
    send_one_off,
)
from bot.monitoring.logs import REDACTED


def delivery_for(hook, clock, tmp_path, *, per_hour: int = 20,
                 token: str = "hook-token-abcdefghijklmnopqrstuvwxyz") -> AlertDelivery:
    limiter = WebhookLimiter(per_hour, tmp_path / WEBHOOK_STATE_FILE, clock)
    return AlertDelivery(Secret(hook.url(token)), limiter, clock=clock, host="testhost")


RULE = Rule("memory", "host memory", 80.0, 75.0, fire_after=3, clear_after=2, unit=" %")


async def test_hysteresis_one_alert_per_incident_and_a_resolved_message(hook, clock, tmp_path):
    engine = AlertEngine({"memory": RULE}, clock=clock)
    delivery = delivery_for(hook, clock, tmp_path)
    try:
        def step(value: float) -> list[Transition]:
            clock.advance(60)
            return engine.evaluate({"memory": value})

        assert step(85) == []           # 1st breach: pending
        assert step(90) == []           # 2nd breach
        assert step(77) == []           # inside the band: the count starts over
        assert engine.state["memory"]["state"] == "ok"
        assert step(85) == []
        assert step(86) == []
        [fired] = step(87)             # 3rd consecutive breach: fires
        assert fired.kind == "firing"
        assert await delivery.deliver([fired])
        for value in (95, 99, 88, 79, 78, 90):  # still firing, or in the band: nothing new
            clock.advance(2)
            assert step(value) == []
            await delivery.deliver([])
        assert step(70) == []          # below the clear threshold once: not yet
        [resolved] = step(60)          # twice: resolved
        assert resolved.kind == "resolved"
        clock.advance(5)
        assert await delivery.deliver([resolved])
        assert step(50) == []
    finally:
        await delivery.close()
    assert len(hook.calls) == 2
    assert hook.texts[0].startswith("\N{LARGE RED CIRCLE} FIRING [testhost] host memory: 87.0 %")
    assert "RESOLVED [testhost] host memory: now 60.0 %" in hook.texts[1]
    assert all(c["allowed_mentions"] == {"parse": []} for c in hook.calls)


def test_engine_state_round_trips_for_the_cron_process(clock):
    rules = {"disk": Rule("disk", "disk", 85, 80)}
    first = AlertEngine(rules, clock=clock)
    assert [t.kind for t in first.evaluate({"disk": 90})] == ["firing"]
    saved = json.loads(json.dumps(first.state))
    second = AlertEngine(rules, saved, clock=clock)  # the next cron run
    assert second.evaluate({"disk": 91}) == []
    assert [t.kind for t in second.evaluate({"disk": 10})] == ["resolved"]
    assert second.evaluate({"disk": None}) == []  # no data: no change


async def test_429_retry_after_in_body_defers_the_next_call(hook, clock, tmp_path):
    delivery = delivery_for(hook, clock, tmp_path)
    engine = AlertEngine({"disk": Rule("disk", "disk", 85, 80)}, clock=clock)
    hook.script = [(429, {"message": "You are being rate limited.", "retry_after": 30.0,
                          "global": False}, {})]
    try:
        assert not await delivery.deliver(engine.evaluate({"disk": 90}))
        assert len(hook.calls) == 1
        assert len(delivery.pending) == 1  # kept, not lost
        clock.advance(10)
        assert not await delivery.flush()
        clock.advance(19)
        assert not await delivery.flush()
        assert len(hook.calls) == 1        # nothing was sent while retry_after ran
        clock.advance(2)
        assert await delivery.flush()
    finally:
        await delivery.close()
    assert len(hook.calls) == 2
    assert hook.calls[0]["content"] == hook.calls[1]["content"]


async def test_429_retry_after_header_is_honoured(hook, clock, tmp_path):
    delivery = delivery_for(hook, clock, tmp_path)
    delivery.pending.append({"text": "x", "at": clock(), "attempts": 0})
    hook.script = [(429, None, {"Retry-After": "120"})]
    try:
        assert not await delivery.flush()
        clock.advance(119)
        assert not await delivery.flush()
        assert len(hook.calls) == 1
        clock.advance(2)
        assert await delivery.flush()
    finally:
        await delivery.close()


def test_retry_after_parsing():
    assert retry_after({"retry_after": 1.5}, {}, 0) == 1.5
    assert retry_after(None, {"Retry-After": "7"}, 0) == 7
    assert retry_after(None, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
                       1445412470.0) == pytest.approx(10)
    assert retry_after(None, {}, 0) == 5.0


async def test_storm_of_1000_alerts_never_exceeds_the_hourly_cap(hook, clock, tmp_path):
    cap = 5
    hook.clock = clock
    delivery = delivery_for(hook, clock, tmp_path, per_hour=cap)
    rules = {f"rule{i}": Rule(f"rule{i}", f"check {i}", 1, 0) for i in range(1000)}
    engine = AlertEngine(rules, clock=clock)
    try:
        transitions = engine.evaluate({name: 5.0 for name in rules})
        assert len(transitions) == 1000
        await delivery.deliver(transitions)
        # Keep evaluating (flapping) and flushing for two hours, one step every 10 s.
        for step in range(720):
            clock.advance(10)
            value = 5.0 if step % 2 else -1.0
            await delivery.deliver(engine.evaluate({f"rule{step % 1000}": value}))
            assert len(delivery.pending) <= 100  # the queue is bounded
    finally:
        await delivery.close()
    # No sliding hour holds more than the cap ...
    for t in hook.times:
        assert sum(1 for u in hook.times if t - 3600 < u <= t) <= cap
    assert len(hook.calls) <= 3 * cap  # (the two hours touch three windows)
    # ... and the budget was used, not wasted.
    assert len(hook.calls) >= 2 * cap
    assert all(len(text) <= 2000 for text in hook.texts)
    assert "held back by the webhook limits" in hook.texts[0]
    assert delivery.limiter.calls_last_hour() <= cap


async def test_cap_is_shared_between_processes_through_the_state_file(hook, clock, tmp_path):
    first = delivery_for(hook, clock, tmp_path, per_hour=2)
    second = delivery_for(hook, clock, tmp_path, per_hour=2)  # e.g. the cron job
    try:
        for delivery in (first, second, first, second):
            delivery.pending.append({"text": "alert", "at": clock(), "attempts": 0})
            await delivery.flush()
            clock.advance(5)
    finally:
        await first.close()
        await second.close()
    assert len(hook.calls) == 2


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_dead_webhook_stops_delivery(hook, clock, tmp_path, status, caplog):
    delivery = delivery_for(hook, clock, tmp_path)
    hook.script = [(status, {"message": "Unknown Webhook", "code": 10015}, {})]
    try:
        delivery.pending.append({"text": "first", "at": clock(), "attempts": 0})
        assert not await delivery.flush()
        for _ in range(50):
            clock.advance(600)
            delivery.pending.append({"text": "more", "at": clock(), "attempts": 0})
            await delivery.flush()
        assert len(hook.calls) == 1
        # Another process (the cron job) with the same URL stays silent too ...
        other = delivery_for(hook, clock, tmp_path)
        other.pending.append({"text": "cron", "at": clock(), "attempts": 0})
        assert not await other.flush()
        await other.close()
        assert len(hook.calls) == 1
        # ... until the operator installs another webhook URL.
        fixed = delivery_for(hook, clock, tmp_path, token="a-new-token-abcdefghijklmnopqrstu")
        fixed.pending.append({"text": "back", "at": clock(), "attempts": 0})
        assert await fixed.flush()
        await fixed.close()
    finally:
        await delivery.close()
    assert len(hook.calls) == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "hook-token-abcdefghijklmnopqrstuvwxyz" not in logged


async def test_unreachable_webhook_is_retried_then_dropped_and_never_logged(clock, tmp_path,
                                                                           caplog):
    url = "http://127.0.0.1:1/api/webhooks/1/secret-token-abcdefghijklmnopqrstuvwxyz"
    delivery = AlertDelivery(Secret(url), WebhookLimiter(100, None, clock), clock=clock,
                             host="h")
    delivery.pending.append({"text": "x", "at": clock(), "attempts": 0})
    try:
        for _ in range(6):
            clock.advance(10)
            assert not await delivery.flush()
    finally:
        await delivery.close()
    assert delivery.pending == []
    assert delivery.dropped == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "secret-token" not in text


async def test_every_transition_is_logged_even_without_a_webhook(clock, caplog):
    delivery = AlertDelivery(None, WebhookLimiter(5, None, clock), clock=clock, host="h")
    rule = Rule("disk", "disk of the database", 85, 80, unit=" %")
    caplog.set_level("INFO", logger="guildbot.alerts")
    assert not await delivery.deliver([Transition(rule, "firing", 91.0, clock(), clock())])
    assert delivery.pending == []
    [record] = [r for r in caplog.records if r.name == "guildbot.alerts"]
    assert "FIRING [h] disk of the database: 91.0 %" in record.getMessage()
    assert record.alert == "disk"


def test_default_rules_follow_the_settings():
    rules = default_rules(AlertThresholds(error_rate=0.05, disk_percent=70))
    assert rules["error_rate"].fire_above == 0.05
    assert rules["error_rate"].clear_below < 0.05
    assert rules["disk"].fire_above == 70
    assert rules["error_rate"].show(0.0123) == "1.23 %"


def test_backup_status_helpers(tmp_path):
    assert read_backup_status(tmp_path) is None
    age, detail = backup_age_hours(None, 1000.0)
    assert age == float("inf")
    assert "backup-status.json" in detail
    (tmp_path / "backup-status.json").write_text(json.dumps(
        {"last_success": 1000.0, "last_error": "disk full", "path": "/b/x.db.gz"}))
    status = read_backup_status(tmp_path)
    assert status["path"] == "/b/x.db.gz"
    age, detail = backup_age_hours(status, 1000.0 + 3 * 3600)
    assert age == pytest.approx(3)
    assert "disk full" in detail


def test_send_one_off_posts_within_the_limits(tmp_path, caplog, webhook_server_class):
    import asyncio
    import threading

    server = webhook_server_class()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        settings = Settings(state_dir=tmp_path, alert_webhook_url=Secret(server.url()))
        assert send_one_off(settings, "backup_failed", "guildbot backup failed: disk full")
        assert len(server.calls) == 1
        assert "backup failed: disk full" in server.calls[0]["content"]
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert server.url() not in logged
        assert REDACTED not in logged  # nothing secret was even attempted
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
