"""The health/metrics HTTP servers, on the bot's own event loop (so /healthz proves the loop runs).

``HealthServer`` (GUILDBOT_HEALTH_HOST/PORT): /healthz, /readyz, /metrics, /slo, /errors,
/dashboard, /dashboard/data. It binds the loopback address by default; nothing there needs
authentication, but /metrics and /dashboard name guild ids, so keep it off public interfaces.

``MetricsServer`` (GUILDBOT_METRICS_HOST/PORT, off by default): /metrics alone, for a Prometheus
on another host, on a private address; every request must carry ``Authorization: Bearer
<metrics_token>`` (compared in constant time), else 401 and no data, on any path; with it,
any path but /metrics is 404. With GUILDBOT_METRICS_ALLOW, a peer not on that list (the
Prometheus hosts) gets 403 before its token is looked at.

Every request must name a loopback host in its ``Host`` header (``localhost``, ``127.0.0.1`` or
``[::1]``, with or without a port); any other answers 421. A web page a browser on the host
loads from a name that later resolves to 127.0.0.1 (DNS rebinding) sends its own name there, so
it cannot read these endpoints; the local tools (the CLI, cron, Ansible's ``uri``) name the
loopback address they connect to.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST

from bot.monitoring.dashboard import CSP, render_page

if TYPE_CHECKING:
    from bot.monitoring.facade import Monitoring

log = logging.getLogger("guildbot.monitoring.server")


def _json(data: object, status: int = 200) -> web.Response:
    # Exactly application/json (no charset parameter): some clients are strict about it.
    return web.Response(body=json.dumps(data, separators=(",", ":"), allow_nan=False).encode(),
                        status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})


# The Host header of a request meant for this server: a loopback name, with or without a port.
LOOPBACK_HOST = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?")


@web.middleware
async def _loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 421 to a request whose Host header is not a loopback name (DNS rebinding)."""
    if not LOOPBACK_HOST.fullmatch(request.headers.get("Host", "").lower()):
        return _json({"error": "misdirected request: the Host header must be localhost, "
                               "127.0.0.1 or [::1]"}, 421)
    return await handler(request)


class _Listener:
    """One aiohttp application on one address; subclasses give ``app()`` and ``what``."""

    what = "server"

    def __init__(self, monitoring: Monitoring, host: str, port: int) -> None:
        self.monitoring = monitoring
        self.host = host
        self.port = port
        self.bound_port: int | None = None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("%s listening on %s:%s", self.what, self.host, self.bound_port)
        return self.bound_port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.monitoring.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class MetricsServer(_Listener):
    """/metrics alone, behind a bearer token, for a Prometheus on another host."""

    what = "metrics server"

    def __init__(self, monitoring: Monitoring, host: str, port: int, token: str,
                 allow: frozenset[str] = frozenset()) -> None:
        super().__init__(monitoring, host, port)
        self._expected = f"Bearer {token}".encode()
        self.allow = allow

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._bearer_only])
        app.router.add_get("/metrics", self.metrics)
        return app

    @web.middleware
    async def _bearer_only(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.allow and _peer(request) not in self.allow:
            return _json({"error": "forbidden: this address may not scrape"}, 403)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, self._expected):
            return _json({"error": "unauthorized: send Authorization: Bearer <metrics token>"},
                         401)
        return await handler(request)


def _peer(request: web.Request) -> str:
    """The peer's address, normalised like GUILDBOT_METRICS_ALLOW (an IPv4-mapped IPv6 address
    as IPv4)."""
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class HealthServer(_Listener):
    what = "health server"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_loopback_only])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/slo", self.slo)
        app.router.add_get("/errors", self.errors)
        app.router.add_get("/dashboard", self.dashboard)
        app.router.add_get("/dashboard/data", self.dashboard_data)
        app.router.add_get("/", self.index)
        return app

    async def index(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard")

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok", "loop_lag_seconds": round(self.monitoring.loop_lag, 6)})

    async def readyz(self, request: web.Request) -> web.Response:
        ready, reasons = await self.monitoring.readiness()
        body = {"ready": ready, "reasons": reasons}
        return _json(body, 200 if ready else 503)

    async def slo(self, request: web.Request) -> web.Response:
        return _json(self.monitoring.slo())

    async def errors(self, request: web.Request) -> web.Response:
        tracker = self.monitoring.errors
        return _json({"total": tracker.total, "by_type": tracker.by_type,
                      "groups": [g.to_json() for g in tracker.top(50)]})

    async def dashboard(self, request: web.Request) -> web.Response:
        page = render_page(self.monitoring.dashboard_data())
        return web.Response(text=page, content_type="text/html",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                     "X-Content-Type-Options": "nosniff"})

    async def dashboard_data(self, request: web.Request) -> web.Response:
        return _json(self.monitoring.dashboard_data())
