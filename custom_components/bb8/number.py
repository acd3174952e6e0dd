"""Aiming as a number: turn the toy in place to face a direction, as the Sphero app's aim does."""

from __future__ import annotations

from homeassistant.components.number import NumberEntity, NumberEntityDescription, NumberMode
from homeassistant.const import DEGREE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry
from .entity import BB8Entity
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


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the toy's aim, where its model can be aimed."""
    if entry.runtime_data.model.has(Feature.HEADING):
        async_add_entities([BB8AimNumber(entry.runtime_data, AIM)])


class BB8AimNumber(BB8Entity, NumberEntity):
    """Turn the toy in place (tail light on full) to face a heading; Reset heading makes it 0°."""

    @property
    def native_value(self) -> float:
        """The direction last aimed at; 0 once Reset heading made it forward."""
        return self.coordinator.session.toy.aim

    async def async_set_native_value(self, value: float) -> None:
        """Turn to face ``value`` degrees."""
        await self._run(self.coordinator.session.aim(round(value) % 360))
