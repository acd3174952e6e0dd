"""Battery (estimated percent, voltage) and signal strength sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfElectricPotential,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import battery_percent_from_voltage
from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class BB8SensorDescription(SensorEntityDescription):
    """A sensor and where its value comes from."""

    value: Callable[[BB8Coordinator], float | int | None]


def _voltage(coordinator: BB8Coordinator) -> float | None:
    power = coordinator.session.power_state
    return None if power is None else power.voltage


def _battery(coordinator: BB8Coordinator) -> int | None:
    volts = _voltage(coordinator)
    return None if volts is None else battery_percent_from_voltage(volts)


SENSORS: tuple[BB8SensorDescription, ...] = (
    BB8SensorDescription(
        key="battery",
        translation_key="battery_estimate",
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        value=_battery,
    ),
    BB8SensorDescription(
        key="battery_voltage",
        translation_key="battery_voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=_voltage,
    ),
    BB8SensorDescription(
        key="rssi",
        translation_key="rssi",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value=lambda coordinator: coordinator.rssi,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the toy's sensors."""
    async_add_entities(BB8Sensor(entry.runtime_data, description) for description in SENSORS)


class BB8Sensor(BB8Entity, SensorEntity):
    """A value read from the session (pushed by the toy or polled)."""

    entity_description: BB8SensorDescription

    def __init__(self, coordinator: BB8Coordinator, description: BB8SensorDescription) -> None:
        """Bind to the toy."""
        super().__init__(coordinator, description)

    @property
    def native_value(self) -> float | int | None:
        """The current value, None until the toy has reported it."""
        return self.entity_description.value(self.coordinator)
