"""The main LED (RGB), the tail (aiming) light, a BB-9E's head light and an R2 unit's LEDs as lights."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from homeassistant.components.light import (
    ATTR_BRIGHTNESS,
    ATTR_RGB_COLOR,
    LightEntity,
    LightEntityDescription,
)
from homeassistant.components.light.const import ColorMode
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BB8ConfigEntry, BB8Coordinator
from .entity import BB8SettingEntity, restored_bool, restored_byte
from .sphero.catalog import Feature

# Commands to one toy are serialised by its session's paced queue anyway.
PARALLEL_UPDATES = 0

MAIN_LED = LightEntityDescription(key="main_led", translation_key="main_led")
TAIL_LIGHT = LightEntityDescription(key="tail_light", translation_key="tail_light")
HEAD_LIGHT = LightEntityDescription(key="head_light", translation_key="head_light")

# An R2-D2's or R2-Q5's parts: the key is the session's setting (``RequestedSettings``) too.
DROID_RGB_LIGHTS = (
    LightEntityDescription(key="front_led", translation_key="front_led"),
    LightEntityDescription(key="back_led", translation_key="back_led"),
)
DROID_BRIGHTNESS_LIGHTS = (
    (Feature.LOGIC_DISPLAYS, LightEntityDescription(key="logic_displays", translation_key="logic_displays")),
    (Feature.HOLO_PROJECTOR, LightEntityDescription(key="holo_projector", translation_key="holo_projector")),
)


async def async_setup_entry(
    hass: HomeAssistant, entry: BB8ConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the main LED, the tail light and the head light where the toy's model has them."""
    coordinator = entry.runtime_data
    model = coordinator.model
    lights: list[LightEntity] = []
    if model.has(Feature.MAIN_LED):
        lights.append(BB8MainLight(coordinator))
    if model.has(Feature.AIMING_LIGHT):
        lights.append(BB8BrightnessLight(coordinator, TAIL_LIGHT))
    if model.has(Feature.HEAD_LIGHT):
        lights.append(BB8BrightnessLight(coordinator, HEAD_LIGHT))
    if model.has(Feature.FRONT_BACK_LEDS):
        lights += [BB8DroidRgbLight(coordinator, description) for description in DROID_RGB_LIGHTS]
    lights += [
        BB8BrightnessLight(coordinator, description)
        for feature, description in DROID_BRIGHTNESS_LIGHTS
        if model.has(feature)
    ]
    async_add_entities(lights)


def scale_color(color: tuple[int, int, int], brightness: int) -> tuple[int, int, int]:
    """Return what the toy shows for an RGB colour at a brightness: rgb x brightness/255, rounded.

    Home Assistant's rule for an RGB light makes the overall brightness brightness/255 x
    max(rgb)/255; the toy has no dimmer of its own, so the product goes into the channels.
    Halves round up (``round`` would send 2.5 to 2).
    """
    red, green, blue = ((2 * channel * brightness + 255) // 510 for channel in color)
    return red, green, blue


class BB8MainLight(BB8SettingEntity, LightEntity):
    """The body's RGB LED. The toy has no brightness of its own: it scales the colour.

    The state is the colour and brightness asked for; the toy shows their product. What the
    session last asked the toy for is the source of truth for on/off (the toy cannot be asked
    its colour), and the session re-applies it after every reconnect or wake.
    """

    _attr_color_mode = ColorMode.RGB
    _attr_supported_color_modes = {ColorMode.RGB}
    _setting = "main_led"

    def __init__(self, coordinator: BB8Coordinator, description: LightEntityDescription = MAIN_LED) -> None:
        """Start with full white as what to show when turned on without a colour or brightness."""
        super().__init__(coordinator, description)
        self._setting = description.key
        self._color: tuple[int, int, int] = (255, 255, 255)
        self._brightness = 255
        # The colour and brightness before the last turn on: what the state goes back to when
        # the toy refuses that turn on and the session withdraws its setting.
        self._before: tuple[tuple[int, int, int], int] = (self._color, self._brightness)
        self._async_update_attrs()

    def _restore_data(self) -> dict[str, Any]:
        """Keep on/off and the colour and brightness asked for (also while off)."""
        return {"is_on": bool(self.is_on), "rgb_color": list(self._color), "brightness": self._brightness}

    def _setting_from_restored(self, data: Mapping[str, Any] | None) -> tuple[int, int, int]:
        """Take back the kept colour and brightness; the setting is their product, or black if off.

        A toy never set is turned off: Home Assistant never lights a toy by itself.
        """
        if data is None:
            return (0, 0, 0)
        red, green, blue = (restored_byte(channel) for channel in data["rgb_color"])
        if not (red or green or blue):
            raise ValueError("black is no colour to turn on at")
        brightness = restored_byte(data["brightness"], low=1)
        is_on = restored_bool(data["is_on"])
        self._color, self._brightness = (red, green, blue), brightness
        return scale_color(self._color, brightness) if is_on else (0, 0, 0)

    @callback
    def _async_update_attrs(self) -> None:
        setting: tuple[int, int, int] | None = getattr(self.coordinator.session.toy.requested, self._setting)
        if setting is None or max(setting) == 0:
            self._attr_is_on = False if setting is not None else None
            self._attr_brightness = None
            self._attr_rgb_color = self._color
            return
        if setting != scale_color(self._color, self._brightness):
            if setting == scale_color(*self._before):
                # The toy refused the last turn on, so the session went back to the setting before.
                self._color, self._brightness = self._before
            else:
                # A setting this entity did not ask for: shown as that colour at full brightness,
                # which is what the toy shows.
                self._color, self._brightness = setting, 255
        self._attr_is_on = True
        self._attr_brightness = self._brightness
        self._attr_rgb_color = self._color

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Show a colour at a brightness (the last ones, kept while off, when not given)."""
        color: tuple[int, int, int] = kwargs.get(ATTR_RGB_COLOR, self._color)
        brightness: int = kwargs.get(ATTR_BRIGHTNESS, self._brightness)
        self._before = (self._color, self._brightness)
        # Black is no colour to come back to: a later turn on keeps the last real one.
        if max(color) > 0:
            self._color = color
        self._brightness = brightness
        # Set before the setting: its listener writes the state as soon as the session records it.
        await self._run(self._apply(scale_color(color, brightness)))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the LED off (black), keeping colour and brightness for the next turn on."""
        await self._run(self._apply((0, 0, 0)))

    def _apply(self, setting: tuple[int, int, int]) -> Awaitable[None]:
        """Ask the session to show ``setting`` (the main LED's own verb)."""
        return self.coordinator.session.set_main_led(*setting)


class BB8BrightnessLight(BB8SettingEntity, LightEntity):
    """A single-colour LED with only a brightness: the tail (aiming) light, a BB-9E's head light.

    The description's key is the session setting it shows (``tail_light``, ``head_light``).
    """

    _attr_color_mode = ColorMode.BRIGHTNESS
    _attr_supported_color_modes = {ColorMode.BRIGHTNESS}

    def __init__(self, coordinator: BB8Coordinator, description: LightEntityDescription) -> None:
        """Bind to the toy; turned on without a brightness, it starts at full."""
        super().__init__(coordinator, description)
        self._setting = description.key
        self._last_brightness = 255
        self._async_update_attrs()

    def _restore_data(self) -> dict[str, Any]:
        """Keep on/off and the brightness to turn on at (also while off)."""
        return {"is_on": bool(self.is_on), "brightness": self._last_brightness}

    def _setting_from_restored(self, data: Mapping[str, Any] | None) -> int:
        """Take back the kept brightness; the setting is it, or 0 if off (and for a toy never set)."""
        if data is None:
            return 0
        self._last_brightness = restored_byte(data["brightness"], low=1)
        return self._last_brightness if restored_bool(data["is_on"]) else 0

    @callback
    def _async_update_attrs(self) -> None:
        setting: int | None = getattr(self.coordinator.session.toy.requested, self._setting)
        self._attr_is_on = None if setting is None else setting > 0
        self._attr_brightness = setting or None
        if setting:
            self._last_brightness = setting

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Light the LED at a brightness (the last one, kept while off, when not given)."""
        brightness: int = kwargs.get(ATTR_BRIGHTNESS, self._last_brightness)
        await self._run(self.coordinator.session.set_part(self._setting, brightness))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the LED off."""
        await self._run(self.coordinator.session.set_part(self._setting, 0))


class BB8DroidRgbLight(BB8MainLight):
    """An R2 unit's front or back LED: an RGB light kept and re-applied as the main LED is."""

    def _apply(self, setting: tuple[int, int, int]) -> Awaitable[None]:
        return self.coordinator.session.set_part(self._setting, setting)
