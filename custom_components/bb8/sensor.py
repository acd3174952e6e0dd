"""Battery (percent: the toy's own or estimated; voltage), signal strength, and the toy's motion as sensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    DEGREE,
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfElectricPotential,
    UnitOfLength,
    UnitOfSpeed,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import battery_percent_from_voltage
from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8Entity, BB8MotionEntity
from .sphero.catalog import Feature
from .sphero.motion import MotionSample
from .sphero.motion_stream import MotionGroup

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class BB8SensorDescription(SensorEntityDescription):
    """A sensor and where its value comes from."""

    value: Callable[[BB8Coordinator], float | int | None]
    needs: Feature | None = None
    """What the toy's model must have for the sensor to exist."""


def _voltage(coordinator: BB8Coordinator) -> float | None:
    return coordinator.session.toy.voltage


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
        needs=Feature.BATTERY_ESTIMATE,
    ),
    BB8SensorDescription(
        # The toy's own percentage (a Mini's 13/10): the device class names it "Battery".
        key="battery",
        device_class=SensorDeviceClass.BATTERY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        value=lambda coordinator: coordinator.session.toy.battery_percentage,
        needs=Feature.BATTERY_PERCENT,
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


@dataclass(frozen=True, kw_only=True)
class BB8MotionSensorDescription(SensorEntityDescription):
    """A motion sensor: what it streams and how its value comes from the latest sample."""

    groups: tuple[MotionGroup, ...]
    value: Callable[[MotionSample, float], float | None]
    """From the sample and the distance travelled; rounded to what a person can tell apart."""


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def _sample_field(key: str, name: str, group: MotionGroup, **kwargs: Any) -> BB8MotionSensorDescription:
    """Describe a sensor of field ``name`` of the sample, rounded; off until a person enables it."""
    return BB8MotionSensorDescription(
        key=key,
        translation_key=key,
        entity_registry_enabled_default=False,
        groups=(group,),
        value=lambda sample, _distance: _rounded(getattr(sample, name)),
        **kwargs,
    )


def _speed_mm_s(sample: MotionSample, _distance: float) -> int | None:
    """Return the speed in mm/s (the toy's own unit), to the nearest cm/s as it was always shown.

    The locator's velocity of a toy at rest wobbles by a few mm/s; whole cm/s keep that
    wobble from writing a new state every second.
    """
    return None if sample.speed is None else round(sample.speed) * 10


# Pitch, roll and yaw wrap at ±180°: their mean must be circular (the mean of 179° and -179° is
# 180°, not 0°). Home Assistant 2025.4 (the floor) has MEASUREMENT_ANGLE.
ANGLE = SensorStateClass.MEASUREMENT_ANGLE


MOTION_SENSORS: tuple[BB8MotionSensorDescription, ...] = (
    BB8MotionSensorDescription(
        key="speed",
        translation_key="speed",
        # mm/s, not cm/s: Home Assistant has no cm/s; with a speed device class a person can
        # show it in m/s, km/h or in/s, and the statistics convert along.
        device_class=SensorDeviceClass.SPEED,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfSpeed.MILLIMETERS_PER_SECOND,
        groups=(MotionGroup.LOCATION,),
        value=_speed_mm_s,
    ),
    BB8MotionSensorDescription(
        key="distance",
        translation_key="distance",
        device_class=SensorDeviceClass.DISTANCE,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfLength.CENTIMETERS,
        groups=(MotionGroup.LOCATION,),
        value=lambda _sample, distance: round(distance),
    ),
    *(
        _sample_field(
            f"position_{axis}",
            axis,
            MotionGroup.LOCATION,
            device_class=SensorDeviceClass.DISTANCE,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfLength.CENTIMETERS,
        )
        for axis in ("x", "y")
    ),
    *(
        _sample_field(
            angle, angle, MotionGroup.ATTITUDE, state_class=ANGLE, native_unit_of_measurement=DEGREE
        )
        for angle in ("pitch", "roll", "yaw")
    ),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the toy's sensors: those its model has a value for, the motion ones where it streams."""
    coordinator = entry.runtime_data
    model = coordinator.model
    async_add_entities(
        BB8Sensor(coordinator, description)
        for description in SENSORS
        if description.needs is None or model.has(description.needs)
    )
    if model.has(Feature.MOTION):
        async_add_entities(BB8MotionSensor(coordinator, description) for description in MOTION_SENSORS)


class BB8Sensor(BB8Entity, SensorEntity):
    """A value read from the session (pushed by the toy or polled)."""

    entity_description: BB8SensorDescription

    @property
    def native_value(self) -> float | int | None:
        """The current value, None until the toy has reported it."""
        return self.entity_description.value(self.coordinator)


class BB8MotionSensor(BB8MotionEntity, SensorEntity):
    """A value of the toy's motion, from its sensor stream; unknown while the link is down."""

    entity_description: BB8MotionSensorDescription

    def __init__(self, coordinator: BB8Coordinator, description: BB8MotionSensorDescription) -> None:
        """Bind to the toy, say what to stream, and take this sensor's write slot (its place in the list)."""
        super().__init__(coordinator, description)
        self._motion_groups = description.groups
        self._write_slot = MOTION_SENSORS.index(description)

    def motion_value(self) -> float | None:
        """Return the value from the latest sample of the live link."""
        motion = self.coordinator.session.toy.motion
        sample = motion.sample
        if sample is None or not self.coordinator.session.is_connected:
            return None
        return self.entity_description.value(sample, motion.distance)

    @property
    def native_value(self) -> float | None:
        """The shown value (see ``motion_value``)."""
        return self.motion_value()
