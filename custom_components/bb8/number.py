"""Aiming as a number: turn the toy in place to face a direction, as the Sphero app's aim does.

And an R2 unit's dome angle: degrees from its centre (0), over the range its command takes.
"""

from __future__ import annotations

from homeassistant.components.number import NumberEntity, NumberEntityDescription, NumberMode
from homeassistant.const import DEGREE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry
from .entity import BB8Entity
from .sphero import commands_v2 as v2
from .sphero.catalog import Feature

PARALLEL_UPDATES = 0

AIM = NumberEntityDescription(
    key="aim",
    translation_key="aim",
    native_min_value=0,
    native_max_value=359,
    native_step=1,
    native_unit_of_measurement=DEGREE,
    mode=NumberMode.SLIDER,
)

DOME = NumberEntityDescription(
    key="dome",
    translation_key="dome",
    native_min_value=v2.DOME_RANGE[0],
    native_max_value=v2.DOME_RANGE[1],
    native_step=1,
    native_unit_of_measurement=DEGREE,
    mode=NumberMode.SLIDER,
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the toy's aim, where its model can be aimed, and its dome, where it has one."""
    if entry.runtime_data.model.has(Feature.HEADING):
        async_add_entities([BB8AimNumber(entry.runtime_data, AIM)])
    if entry.runtime_data.model.has(Feature.DOME):
        async_add_entities([BB8DomeNumber(entry.runtime_data, DOME)])


class BB8AimNumber(BB8Entity, NumberEntity):
    """Turn the toy in place (tail light on full) to face a heading; Reset heading makes it 0°."""

    @property
    def native_value(self) -> float:
        """The direction last aimed at; 0 once Reset heading made it forward."""
        return self.coordinator.session.toy.aim

    async def async_set_native_value(self, value: float) -> None:
        """Turn to face ``value`` degrees."""
        await self._run(self.coordinator.session.aim(round(value) % 360))


class BB8DomeNumber(BB8Entity, NumberEntity):
    """Turn an R2 unit's dome to an angle, 0 centred (the toy cannot be asked where it is).

    Unknown until first set in this run: the toy's dome may have been turned by its app, an
    animation or a hand meanwhile, so no angle is restored or assumed.
    """

    _attr_native_value: float | None = None

    async def async_set_native_value(self, value: float) -> None:
        """Turn the dome to ``value`` degrees; the state follows once the toy answered."""
        await self._run(self.coordinator.session.send(v2.set_dome(float(value))))
        self._attr_native_value = value
        self.async_write_ha_state()
