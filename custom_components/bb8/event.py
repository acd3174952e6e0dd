"""Collisions, and a BOLT's matrix text ending, as event entities pushed by the toy."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry
from .entity import BB8Entity
from .sphero.catalog import Feature
from .sphero.decoders import Collision

PARALLEL_UPDATES = 0

EVENT_COLLISION = "collision"

COLLISION = EventEntityDescription(
    key="collision", translation_key="collision", event_types=[EVENT_COLLISION]
)
EVENT_TEXT_DONE = "text_done"
MATRIX_TEXT = EventEntityDescription(
    key="matrix_text", translation_key="matrix_text", event_types=[EVENT_TEXT_DONE]
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the collision event entity, and a BOLT's matrix text one, where the toy reports them."""
    coordinator = entry.runtime_data
    events: list[EventEntity] = []
    if coordinator.model.has(Feature.COLLISIONS):
        events.append(BB8CollisionEvent(coordinator, COLLISION))
    if coordinator.model.has(Feature.MATRIX):
        events.append(BB8MatrixTextEvent(coordinator, MATRIX_TEXT))
    async_add_entities(events)


class BB8CollisionEvent(BB8Entity, EventEntity):
    """Fires ``collision`` with the impact's intensity and axis data."""

    async def async_added_to_hass(self) -> None:
        """Subscribe to the session's collision push; unsubscribed on removal."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.session.toy.add_collision_listener(self._async_collision))

    @callback
    def _async_collision(self, collision: Collision) -> None:
        self._trigger_event(
            EVENT_COLLISION,
            {
                "intensity": collision.intensity,
                "x_axis": collision.x_axis,
                "y_axis": collision.y_axis,
                "magnitude_x": collision.magnitude_x,
                "magnitude_y": collision.magnitude_y,
                "acceleration_x": round(collision.acceleration_x, 3),
                "acceleration_y": round(collision.acceleration_y, 3),
                "acceleration_z": round(collision.acceleration_z, 3),
                "speed": collision.speed,
            },
        )
        self.async_write_ha_state()


class BB8MatrixTextEvent(BB8Entity, EventEntity):
    """Fires ``text_done`` when a BOLT says the text its matrix scrolled (not repeating) has ended."""

    async def async_added_to_hass(self) -> None:
        """Subscribe to the session's text-done push; unsubscribed on removal."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.session.toy.add_text_done_listener(self._async_text_done))

    @callback
    def _async_text_done(self) -> None:
        self._trigger_event(EVENT_TEXT_DONE)
        self.async_write_ha_state()
