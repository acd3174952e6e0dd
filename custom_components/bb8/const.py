"""Constants of the Home Assistant layer: entry and option keys and defaults, actions, battery, motion."""

from __future__ import annotations

from typing import Any, Final

from .sphero.const import DEFAULT_INACTIVITY_TIMEOUT

DOMAIN: Final = "bb8"
MANUFACTURER: Final = "Sphero"
DATA_MODEL: Final = "model"
"""The config entry's model (``sphero.catalog`` key); entries made before SPRK+ and Ollie have none: BB-8."""

CONF_CONNECTION_MODE: Final = "connection_mode"
CONF_IDLE_TIMEOUT: Final = "idle_timeout"
CONF_POLL_INTERVAL: Final = "poll_interval"
CONF_RECONNECT_MAX_DELAY: Final = "reconnect_max_delay"
CONF_RECONNECT_MAX_ATTEMPTS: Final = "reconnect_max_attempts"
CONF_INACTIVITY_TIMEOUT: Final = "inactivity_timeout"

MODE_ALWAYS: Final = "always"
MODE_ON_DEMAND: Final = "on_demand"

OPTION_DEFAULTS: Final[dict[str, Any]] = {
    CONF_CONNECTION_MODE: MODE_ALWAYS,
    CONF_IDLE_TIMEOUT: 120,
    CONF_POLL_INTERVAL: 60,
    CONF_RECONNECT_MAX_DELAY: 300,
    CONF_RECONNECT_MAX_ATTEMPTS: 0,  # 0 = keep trying
    CONF_INACTIVITY_TIMEOUT: DEFAULT_INACTIVITY_TIMEOUT,  # the toy's own
}
"""Each option's value until the options form saves one: set-up and the form read it here."""

# Actions
SERVICE_ROLL: Final = "roll"
SERVICE_STOP: Final = "stop"
SERVICE_SET_HEADING: Final = "set_heading"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_HEADING: Final = "heading"
ATTR_SPEED: Final = "speed"
ATTR_DURATION: Final = "duration"
MAX_ROLL_DURATION: Final = 30.0

# Battery: two Li-ion cells in series. 7.0 V (empty) to 8.4 V (full) is the usual 2S range; it
# is not confirmed on hardware for any v1 toy (BB-8, SPRK+, Ollie), so the percentage is labelled an
# estimate everywhere.
BATTERY_EMPTY_VOLTS: Final = 7.0
BATTERY_FULL_VOLTS: Final = 8.4


def battery_percent_from_voltage(volts: float) -> int:
    """Estimate the charge in percent from the pack voltage: the one place this mapping lives.

    A straight line between the 2S pack's empty and full voltages, clamped to 0-100. Li-ion's
    real discharge curve is flatter in the middle, so mid-range values are rough.
    """
    span = BATTERY_FULL_VOLTS - BATTERY_EMPTY_VOLTS
    fraction = (volts - BATTERY_EMPTY_VOLTS) / span
    return round(100 * min(1.0, max(0.0, fraction)))


# Motion
MOTION_WRITE_INTERVAL: Final = 1.0
"""Seconds between two state writes of one motion entity. The toy streams 10 frames a second;
Home Assistant (and its recorder) sees at most one new state a second per entity, and only when
the shown value changes; the last value always lands."""
SERVICE_AIM: Final = "aim"
ATTR_SET_AS_FORWARD: Final = "set_as_forward"

# The BOLT's matrix
SERVICE_MATRIX: Final = "matrix"
ATTR_COLOR: Final = "color"
ATTR_TEXT: Final = "text"
ATTR_REPEAT: Final = "repeat"
