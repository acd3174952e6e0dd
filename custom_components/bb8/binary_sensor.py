"""Charging, connected and moving as binary sensors."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry
from .entity import MOTION_WRITE_SLOTS, BB8Entity, BB8MotionEntity
from .sphero.catalog import Feature
from .sphero.motion_stream import MotionGroup

PARALLEL_UPDATES = 0

CHARGING = BinarySensorEntityDescription(
    key="charging", translation_key="charging", device_class=BinarySensorDeviceClass.BATTERY_CHARGING
)
CONNECTED = BinarySensorEntityDescription(
    key="connected",
    translation_key="connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)

MOVING = BinarySensorEntityDescription(
    key="moving", translation_key="moving", device_class=BinarySensorDeviceClass.MOVING
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the toy's binary sensors: connected always, charging and moving where the model reports them."""
    coordinator = entry.runtime_data
    model = coordinator.model
    sensors: list[BinarySensorEntity] = [BB8ConnectedSensor(coordinator, CONNECTED)]
    if model.has(Feature.CHARGING):
        sensors.append(BB8ChargingSensor(coordinator, CHARGING))
    if model.has(Feature.MOTION):
        sensors.append(BB8MovingSensor(coordinator, MOVING))
    async_add_entities(sensors)


class BB8ChargingSensor(BB8Entity, BinarySensorEntity):
    """On while the toy says it is charging (a v1 toy's power state, pushed; a BOLT's charger state, polled)."""

    @property
    def is_on(self) -> bool | None:
        """Unknown without a link, and until the toy has reported its power state."""
        return self.coordinator.session.charging


class BB8ConnectedSensor(BB8Entity, BinarySensorEntity):
    """Whether the Bluetooth link is up; always available, so it can show the link is down."""

    @property
    def available(self) -> bool:
        """Always: this sensor exists to say whether the toy is reachable."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the session's link is up."""
        return self.coordinator.session.is_connected


class BB8MovingSensor(BB8MotionEntity, BinarySensorEntity):
    """On while the toy moves faster than 5 cm/s (its streamed velocity); unknown without a link."""

    _motion_groups = (MotionGroup.LOCATION,)
    _write_slot = MOTION_WRITE_SLOTS - 1  # the motion sensors take the slots before it, in their order

    def motion_value(self) -> bool | None:
        """Return whether the latest sample of the live link is moving."""
        sample = self.coordinator.session.toy.motion.sample
        if sample is None or not self.coordinator.session.is_connected:
            return None
        return sample.moving

    @property
    def is_on(self) -> bool | None:
        """The shown value (see ``motion_value``)."""
        return self.motion_value()
