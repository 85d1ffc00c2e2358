"""Monitoring: metrics, the health server, the watchdog (sd_notify), alerting, errors, logs, the
dashboard, the cron checks (resources) and the usage report.

The facade the bot core holds is ``bot.monitoring.facade.Monitoring`` (or its null twin
``NullMonitoring``), typed in the core as ``bot.monitoring.hooks.MonitoringHooks``; each other
concern has its module (see docs/ARCHITECTURE.md, "Who owns what"). The names below are
re-exported for callers that build a facade.
"""

from bot.monitoring.facade import DB_CHECK_TTL, Intervals, Monitoring, NullMonitoring
from bot.monitoring.hooks import BotProbe, MonitoringHooks

__all__ = ["DB_CHECK_TTL", "BotProbe", "Intervals", "Monitoring", "MonitoringHooks",
           "NullMonitoring"]
