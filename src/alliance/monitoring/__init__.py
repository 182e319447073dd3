"""Monitoring: client timelines (:mod:`.timeline`) and the alert rules (:mod:`.alerts`).

Pure domain code: frozen dataclasses in, alerts out; the services layer builds timelines from
the store and records the alerts.
"""

from alliance.monitoring.alerts import (
    ALERT_KINDS,
    Alert,
    AlertKind,
    AlertSettings,
    Evidence,
    RuptureEpisode,
    Severity,
    alerts_by_session,
    evaluate_alerts,
    rupture_episodes,
)
from alliance.monitoring.timeline import (
    Attendance,
    AttendanceStatus,
    FitAnswer,
    FitAnswerValue,
    ScorePoint,
    Timeline,
)

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertKind",
    "AlertSettings",
    "Attendance",
    "AttendanceStatus",
    "Evidence",
    "FitAnswer",
    "FitAnswerValue",
    "RuptureEpisode",
    "ScorePoint",
    "Severity",
    "Timeline",
    "alerts_by_session",
    "evaluate_alerts",
    "rupture_episodes",
]
