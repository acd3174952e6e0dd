"""The shared base entities: one device per toy, availability by link or advertisement, motion."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
import math
from typing import Any, Final
import zlib

from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.device_registry import CONNECTION_BLUETOOTH, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.event import async_call_at
from homeassistant.helpers.restore_state import RestoredExtraData, RestoreEntity
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER, MOTION_WRITE_INTERVAL
from .coordinator import BB8Coordinator
from .sphero.errors import (
    BB8ConnectionError,
    BB8Error,
    CommandRejectedError,
    CommandTimeoutError,
    LinkLostError,
    NotConnectedError,
    NotSupportedError,
    SessionClosedError,
)
from .sphero.motion_stream import MotionGroup
from .sphero.policy import FailureReason


class BB8Entity(CoordinatorEntity[BB8Coordinator]):
    """Base for every toy's entity: naming, device, availability, error translation."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: BB8Coordinator, description: EntityDescription) -> None:
        """Bind the entity to its toy; the unique id is the address plus the entity's key."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.address}_{description.key}"
        self._attr_device_info = DeviceInfo(
            connections={(CONNECTION_BLUETOOTH, coordinator.address)},
            name=coordinator.session.name,
            manufacturer=MANUFACTURER,
            model=coordinator.model.name,
            sw_version=(
                coordinator.session.toy.versions.firmware if coordinator.session.toy.versions else None
            ),
        )

    @property
    def available(self) -> bool:
        """Follow the link or recent advertisements, not the last poll's outcome."""
        return self.coordinator.available

    async def _run(self, action: Awaitable[object]) -> None:
        """Await a session call, turning its errors into messages a person can act on."""
        await run_translated(action, self.coordinator.session.name)


MOTION_WRITE_SPREAD: Final = 0.1
"""Seconds a motion entity's write may wait past its ``MOTION_WRITE_INTERVAL`` for its own slot:
one frame of the 10 Hz stream. Every frame reaches all of a toy's motion entities in the same
loop iteration, and toys started together stream in step; written the moment they change, all of
them would write in that one iteration (45 writes in one iteration with 8 toys in the bench).
Each entity writes on its own grid instead, ``MOTION_WRITE_SPREAD`` apart, at an offset of its
own: a toy's motion entities ``MOTION_WRITE_SPREAD / MOTION_WRITE_SLOTS`` apart, each toy shifted
within that by its address."""
MOTION_WRITE_SLOTS: Final = 8
"""Slots in one ``MOTION_WRITE_SPREAD``: one for each motion entity of a toy (``write_slot``)."""


def motion_write_offset(address: str, write_slot: int) -> float:
    """Return where in each ``MOTION_WRITE_SPREAD`` the entity ``write_slot`` of toy ``address`` writes.

    The toy's own shift comes from a checksum of its address (stable across restarts, unlike
    ``hash``), so several toys rarely share an instant; a toy's entities never do.
    """
    width = MOTION_WRITE_SPREAD / MOTION_WRITE_SLOTS
    toy_shift = (zlib.crc32(address.encode()) % 1000) / 1000 * width
    return toy_shift + (write_slot % MOTION_WRITE_SLOTS) * width


class BB8MotionEntity(BB8Entity):
    """An entity that shows the toy's motion, written at most once a ``MOTION_WRITE_INTERVAL``.

    While the entity is in Home Assistant it asks the session to stream what it shows
    (``motion_groups``); a disabled entity asks for nothing, so a toy with no motion entity
    enabled streams nothing. The toy streams 10 frames a second: the state is written when the
    shown value changes, at most once an interval, on the entity's own slot (see
    ``MOTION_WRITE_SPREAD``): at the first slot after the change, or after the interval since
    the last write ends, whichever is later, with the newest value then, so the last value
    always lands. A change of the link (the value becomes unknown, the toy unavailable) is
    written at once.
    """

    _motion_groups: tuple[MotionGroup, ...]
    _write_slot: int
    """Which of the toy's ``MOTION_WRITE_SLOTS`` this entity writes in (unique per toy)."""
    _written: object = None
    _written_available: bool | None = None
    _last_write = float("-inf")
    _pending: CALLBACK_TYPE | None = None

    def motion_value(self) -> Any:
        """Return the value shown now (rounded to what matters), None while unknown."""
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Ask for the stream and follow the toy's motion until removed."""
        await super().async_added_to_hass()
        session = self.coordinator.session
        self.async_on_remove(session.toy.motion.request(self._motion_groups).cancel)
        self.async_on_remove(session.toy.motion.add_listener(self._async_motion_changed))
        self.async_on_remove(self._cancel_pending)

    def next_write_slot(self, earliest: float) -> float:
        """Return the first instant of this entity's slots (loop time) at or after ``earliest``."""
        offset = motion_write_offset(self.coordinator.address, self._write_slot)
        slot = offset + math.ceil((earliest - offset) / MOTION_WRITE_SPREAD) * MOTION_WRITE_SPREAD
        return slot if slot >= earliest else slot + MOTION_WRITE_SPREAD

    @callback
    def _async_motion_changed(self) -> None:
        """Write a changed value at the entity's next slot once the interval since the last write ends."""
        if self._pending is not None or self.motion_value() == self._written:
            return
        if self.motion_value() is None:
            self._write_now()
            return
        earliest = max(self.hass.loop.time(), self._last_write + MOTION_WRITE_INTERVAL)
        self._pending = async_call_at(self.hass, self._async_slot_write, self.next_write_slot(earliest))

    @callback
    def _async_slot_write(self, _now: datetime) -> None:
        self._pending = None
        if self.motion_value() != self._written:
            self._write_now()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write at once when the link or availability changed; otherwise keep the pace."""
        gone = self.motion_value() is None and self._written is not None
        if self.available != self._written_available or gone:
            self._cancel_pending()
            self._write_now()
            return
        self._async_motion_changed()

    def _write_now(self) -> None:
        self._written = self.motion_value()
        self._written_available = self.available
        self._last_write = self.hass.loop.time()
        self.async_write_ha_state()

    @callback
    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending()
            self._pending = None


class BB8SettingEntity(BB8Entity, RestoreEntity):
    """An entity that shows one of the toy's requested settings, kept across Home Assistant restarts.

    The toy cannot be asked its LED colours or stabilization and forgets them when it sleeps,
    so the entity's state is the session's setting it shows. The setting is saved as extra
    restore data (not read back from the state, which is "unavailable" whenever Home
    Assistant stopped while the toy slept) and handed back to the session when the entity is
    added; a toy never set before gets the entity's default, so the state is never unknown and
    the session writes it to the toy when it connects.
    """

    _setting: str

    @property
    def extra_restore_state_data(self) -> RestoredExtraData:
        """Return what to keep of this entity's setting for the next run."""
        return RestoredExtraData(self._restore_data())

    async def async_added_to_hass(self) -> None:
        """Hand the kept (or default) setting to the session, then follow the session's setting."""
        await super().async_added_to_hass()
        extra = await self.async_get_last_extra_data()
        data = None if extra is None else extra.as_dict()
        try:
            setting = self._setting_from_restored(data)
        except (KeyError, TypeError, ValueError):
            # Saved by something else, or damaged: a defined state is better than none.
            setting = self._setting_from_restored(None)
        self.coordinator.session.restore_setting(self._setting, setting)
        self._async_update_attrs()

        # Settings are pushed only to the entities that show them (not through the coordinator,
        # which would rewrite every entity of the toy for each colour change).
        @callback
        def _changed(changed: str) -> None:
            if changed == self._setting:
                self._handle_coordinator_update()

        self.async_on_remove(self.coordinator.session.toy.add_setting_listener(_changed))

    def _restore_data(self) -> dict[str, Any]:
        """Return the JSON-ready data to keep for the next run."""
        raise NotImplementedError

    def _setting_from_restored(self, data: Mapping[str, Any] | None) -> Any:
        """Return the session setting for kept ``data``, or the default setting for None.

        May raise ``KeyError``, ``TypeError`` or ``ValueError`` on data it cannot use.
        """
        raise NotImplementedError

    @callback
    def _async_update_attrs(self) -> None:
        """Read the session's setting into the state (nothing to do where a property reads it)."""

    @callback
    def _handle_coordinator_update(self) -> None:
        self._async_update_attrs()
        super()._handle_coordinator_update()


def restored_byte(value: Any, *, low: int = 0) -> int:
    """Return kept ``value`` as a colour channel or brightness (``low``-255), or raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 255:
        raise ValueError(f"not a number from {low} to 255: {value!r}")
    return int(value)


def restored_bool(value: Any) -> bool:
    """Return kept ``value`` as on/off, or raise ``TypeError``."""
    if not isinstance(value, bool):
        raise TypeError(f"not on or off: {value!r}")
    return value


def _translated(key: str, **placeholders: str) -> HomeAssistantError:
    """Return the translated error ``key`` (strings.json's ``exceptions``) with its placeholders."""
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


# What the toy's refusal codes (MRSP, Sphero API 1.x) mean to a person, as translation keys; a
# code not listed (0x01 non-specific, 0x05 "currently unsupported", 0x08 failed to execute, the
# bootloader's flash codes, codes the spec does not know) is "cannot right now" (command_rejected).
_REFUSAL_KEYS: dict[int, str] = {
    # The command arrived damaged or incomplete: sending it again is the cure.
    0x02: "command_rejected_garbled",  # checksum failure
    0x03: "command_rejected_garbled",  # command fragment
    0x35: "command_rejected_garbled",  # message timeout (the rest of the packet never came)
    # The firmware does not know the command or a value: retrying cannot help, a report can.
    0x04: "command_rejected_unsupported",  # unknown command id
    0x06: "command_rejected_unsupported",  # bad message format
    0x07: "command_rejected_unsupported",  # parameter value invalid
    0x09: "command_rejected_unsupported",  # unknown device id
    # Voltage too low: charging is the cure.
    0x31: "command_rejected_low_battery",
}
# The v2 codes (the error carries their name, ``CommandRejectedError.code_name``), by their own
# meaning: v2 numbers its errors otherwise (its 0x02 is an unknown command, not a checksum
# failure). Not listed ("cannot right now", command_rejected): command_failed and busy.
_V2_REFUSAL_KEYS: dict[str, str] = {
    # The firmware does not know the command, its target or a value: a report can help.
    "bad_device_id": "command_rejected_unsupported",
    "bad_command_id": "command_rejected_unsupported",
    "not_yet_implemented": "command_rejected_unsupported",
    "command_is_restricted": "command_rejected_unsupported",
    "bad_data_length": "command_rejected_unsupported",
    "bad_parameter_value": "command_rejected_unsupported",
    "bad_target_id": "command_rejected_unsupported",
    "target_unavailable": "command_rejected_unsupported",
}


def refusal_key(err: CommandRejectedError) -> str:
    """Return the translation key that tells a person what the toy's refusal means, by protocol."""
    if err.code_name is not None:
        return _V2_REFUSAL_KEYS.get(err.code_name, "command_rejected")
    return _REFUSAL_KEYS.get(err.mrsp, "command_rejected")


async def run_translated(action: Awaitable[object], name: str) -> None:
    """Await ``action``; map the session's typed errors to translated Home Assistant errors."""
    try:
        await action
    except SessionClosedError as err:
        raise _translated("session_closed", name=name) from err
    except LinkLostError as err:
        raise _translated("link_lost", name=name) from err
    except NotConnectedError as err:
        raise _translated("not_connected", name=name) from err
    except CommandTimeoutError as err:
        raise _translated("command_timeout", name=name, command=err.command) from err
    except CommandRejectedError as err:
        raise _translated(refusal_key(err), name=name, command=err.command, code=f"0x{err.mrsp:02x}") from err
    except NotSupportedError as err:
        # The HA layer offers a model only what it has; this is the library's last guard.
        raise _translated("not_supported_by_model", name=name) from err
    except BB8Error as err:
        # The library's text names the address and helps no one reading a failed action: what
        # helps is what to do. The text stays on the exception's cause and in the diagnostics.
        slots = isinstance(err, BB8ConnectionError) and err.reason is FailureReason.OUT_OF_SLOTS
        raise _translated("out_of_slots" if slots else "cannot_connect", name=name) from err
