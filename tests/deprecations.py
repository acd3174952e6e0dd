"""Catch Home Assistant's reports about the integration using something deprecated.

Home Assistant does not raise for a custom integration that calls a deprecated helper: it logs a
warning ("Detected that custom integration 'bb8' calls … This will stop working in Home Assistant
2027.8 …") and carries on, so a test passes while users' logs fill up and the call stops working
a few releases later. The collector sees every such record; ``conftest.py`` fails any test that
produced one that names this integration.
"""

from __future__ import annotations

import logging

# What Home Assistant's deprecation reports say (helpers/frame.py, helpers/deprecation.py).
MARKERS = ("deprecated", "detected that custom integration", "detected code that", "will stop working")


def is_report_about_bb8(record: logging.LogRecord) -> bool:
    """Whether ``record`` is a deprecation report (or warning) that names this integration."""
    if record.levelno < logging.WARNING:
        return False
    text = record.getMessage().lower()
    if record.exc_info and record.exc_info[1] is not None:
        text += f" {type(record.exc_info[1]).__name__} {record.exc_info[1]}".lower()
    names_bb8 = "custom_components/bb8" in text or "custom_components.bb8" in text or "'bb8'" in text
    return names_bb8 and (any(marker in text for marker in MARKERS) or "deprecationwarning" in text)


class DeprecationCollector(logging.Handler):
    """A root-logger handler that keeps the deprecation reports about ``bb8``."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if is_report_about_bb8(record):
            self.reports.append(record)
