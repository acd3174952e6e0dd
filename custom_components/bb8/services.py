"""Actions for automations: roll, stop, set heading, aim; a droid's animations and sounds; a BOLT's matrix.

``bb8.roll``, ``bb8.stop``, ``bb8.set_heading``, ``bb8.aim``, ``bb8.play_animation``,
``bb8.play_sound`` and ``bb8.matrix``. Registered once in ``async_setup`` (not per entry), so automations that use them validate even
while a toy's entry is not loaded; the call then fails with a translated error that says why.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr

from .const import (
    ATTR_COLOR,
    ATTR_DEVICE_ID,
    ATTR_DURATION,
    ATTR_HEADING,
    ATTR_REPEAT,
    ATTR_SET_AS_FORWARD,
    ATTR_SPEED,
    ATTR_TEXT,
    DOMAIN,
    MAX_ROLL_DURATION,
    SERVICE_AIM,
    SERVICE_MATRIX,
    SERVICE_ROLL,
    SERVICE_SET_HEADING,
    SERVICE_STOP,
)
from .coordinator import BB8Coordinator
from .entity import run_translated
from .select import SELECTS, async_select, names_joined
from .sphero import commands_v2 as v2
from .sphero.catalog import CATALOG, Feature
from .validation import vol


def _whole_number(value: Any) -> int:
    """Coerce like ``vol.Coerce(int)``, also refusing infinities.

    ``int(inf)`` raises OverflowError, which ``vol.Coerce`` does not turn into ``vol.Invalid``;
    ``speed: .inf`` in YAML would otherwise fail with an unexpected error, not a message.
    """
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise vol.Invalid(f"expected a whole number, got {value!r}") from err


_HEADING = vol.All(_whole_number, vol.Range(min=0, max=359))

ROLL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_HEADING): _HEADING,
        vol.Required(ATTR_SPEED): vol.All(_whole_number, vol.Range(min=0, max=255)),
        vol.Optional(ATTR_DURATION): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=MAX_ROLL_DURATION)),
    }
)
STOP_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string})
SET_HEADING_SCHEMA = vol.Schema(
    {vol.Required(ATTR_DEVICE_ID): cv.string, vol.Required(ATTR_HEADING): _HEADING}
)
AIM_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_HEADING): _HEADING,
        vol.Optional(ATTR_SET_AS_FORWARD, default=False): cv.boolean,
    }
)

# The droid's actions play what the select of the same key plays: (action, field, select). The
# schema lets through a name of any model; the toy's own model then refuses one it lacks, in words.
_PLAY_ACTIONS = {
    "play_animation": ("animation", next(d for d in SELECTS if d.key == "animation")),
    "play_sound": ("sound", next(d for d in SELECTS if d.key == "sound")),
}
PLAY_SCHEMAS = {
    action: vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string, vol.Required(field): vol.In(select.names)})
    for action, (field, select) in _PLAY_ACTIONS.items()
}
_BYTE = vol.All(_whole_number, vol.Range(min=0, max=255))


def _as_tuple(value: Any) -> tuple[Any, ...]:
    """Return a validated sequence as a tuple (a bare ``tuple`` in a schema is a type check)."""
    return tuple(value)


MATRIX_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_COLOR): vol.All(vol.ExactSequence((_BYTE, _BYTE, _BYTE)), _as_tuple),
        vol.Optional(ATTR_TEXT): cv.string,
        vol.Optional(ATTR_SPEED, default=10): vol.All(_whole_number, vol.Range(*v2.MATRIX_TEXT_SPEED)),
        vol.Optional(ATTR_REPEAT, default=False): cv.boolean,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_ROLL, _async_roll, schema=ROLL_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_STOP, _async_stop, schema=STOP_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SET_HEADING, _async_set_heading, schema=SET_HEADING_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_AIM, _async_aim, schema=AIM_SCHEMA)
    for action, schema in PLAY_SCHEMAS.items():
        hass.services.async_register(DOMAIN, action, _async_play, schema=schema)
    hass.services.async_register(DOMAIN, SERVICE_MATRIX, _async_matrix, schema=MATRIX_SCHEMA)


def _coordinator_for(call: ServiceCall) -> BB8Coordinator:
    """Find the loaded toy behind the action's device, or say plainly what is wrong."""
    device_id: str = call.data[ATTR_DEVICE_ID]
    registry = dr.async_get(call.hass)
    device = registry.async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device_id": device_id},
        )
    # Asked from the entries' side: reading a device's own list of entries is deprecated in
    # 2026.x, while listing an entry's devices works the same on every supported release.
    for entry in call.hass.config_entries.async_entries(DOMAIN):
        entry_devices = dr.async_entries_for_config_entry(registry, entry.entry_id)
        if all(entry_device.id != device.id for entry_device in entry_devices):
            continue
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"name": entry.title},
            )
        coordinator: BB8Coordinator = entry.runtime_data
        return coordinator
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_bb8",
        translation_placeholders={"name": device.name_by_user or device.name or device_id},
    )


def _coordinator_with(call: ServiceCall, feature: Feature) -> BB8Coordinator:
    """Find the toy as ``_coordinator_for`` does, and refuse plainly if its model lacks ``feature``."""
    coordinator = _coordinator_for(call)
    if not coordinator.model.has(feature):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="action_not_for_model",
            translation_placeholders={
                "name": coordinator.session.name,
                "model": coordinator.model.name,
                "action": f"{DOMAIN}.{call.service}",
                "models": names_joined([entry.name for entry in CATALOG if entry.has(feature)]),
            },
        )
    return coordinator


async def _async_play(call: ServiceCall) -> None:
    """Play the named animation or sound; return once the toy took it (its end is the event's).

    A model without the part is refused first (``action_not_for_model``), then a name the
    toy's model lacks (``option_not_for_model``, in ``async_select``): nothing is sent either way.
    """
    field, select = _PLAY_ACTIONS[call.service]
    coordinator = _coordinator_with(call, select.feature)
    await async_select(coordinator, select, call.data[field])


async def _async_roll(call: ServiceCall) -> None:
    """Roll; with a duration, return once the roll is over (stopped, or superseded).

    The stop at the end of a timed roll belongs to the session, not to this call's task, which
    Home Assistant cancels when the calling script is stopped: the session then stops the toy.
    """
    session = _coordinator_for(call).session
    duration: float | None = call.data.get(ATTR_DURATION)
    await run_translated(session.roll(call.data[ATTR_SPEED], call.data[ATTR_HEADING], duration), session.name)


async def _async_stop(call: ServiceCall) -> None:
    """Stop rolling (a timed roll's pending stop is superseded: this one is newer)."""
    coordinator = _coordinator_for(call)
    await run_translated(coordinator.session.stop(), coordinator.session.name)


async def _async_set_heading(call: ServiceCall) -> None:
    """Declare the toy's current direction to be the given heading."""
    coordinator = _coordinator_with(call, Feature.HEADING)
    await run_translated(coordinator.session.set_heading(call.data[ATTR_HEADING]), coordinator.session.name)


async def _async_aim(call: ServiceCall) -> None:
    """Turn in place to face the heading (tail light on); with ``set_as_forward``, make it 0°."""
    coordinator = _coordinator_with(call, Feature.HEADING)
    name = coordinator.session.name
    await run_translated(coordinator.session.aim(call.data[ATTR_HEADING]), name)
    if call.data[ATTR_SET_AS_FORWARD]:
        await run_translated(coordinator.session.set_heading(0), name)


async def _async_matrix(call: ServiceCall) -> None:
    """Scroll a text across a BOLT's matrix, or fill it with one colour (no text).

    The text is checked before the toy is looked at, and nothing is sent unless it can be shown.
    The command goes to the BOLT's secondary processor, as its model routes the matrix.
    """
    colour: tuple[int, int, int] = call.data[ATTR_COLOR]
    text: str | None = call.data.get(ATTR_TEXT)
    try:
        command = (
            v2.matrix_fill(colour)
            if text is None
            else v2.matrix_text(text, colour, call.data[ATTR_SPEED], repeat=call.data[ATTR_REPEAT])
        )
    except ValueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_matrix_text",
            translation_placeholders={"text": repr(text)},
        ) from err
    coordinator = _coordinator_with(call, Feature.MATRIX)
    await run_translated(coordinator.session.send(command), coordinator.session.name)
