"""No deprecated Home Assistant API in the integration, on the release its users run today.

The autouse fixture in ``conftest.py`` already fails any test during which Home Assistant reports
deprecated use by ``bb8``; this file drives every code path that touches the registries Home
Assistant is deprecating parts of (the device page's firmware, the actions' device lookup,
unloading), and checks the guard itself recognises Home Assistant's report.
"""

from __future__ import annotations

import logging
import warnings

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bb8sim import SimulatedBB8
from custom_components.bb8.const import DOMAIN, SERVICE_ROLL, SERVICE_SET_HEADING, SERVICE_STOP

from .deprecations import DeprecationCollector, is_report_about_bb8


def _record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("homeassistant.helpers.frame", level, __file__, 1, message, None, None)


def test_the_guard_recognises_home_assistants_report_about_bb8() -> None:
    report = (
        "Detected that custom integration 'bb8' calls device_registry.async_get_device, which is "
        "deprecated and will be removed in Home Assistant 2027.8 at custom_components/bb8/"
        "coordinator.py, line 188: device = registry.async_get_device(, please report it to the "
        "author of the 'bb8' custom integration"
    )
    assert is_report_about_bb8(_record(report))
    assert not is_report_about_bb8(_record(report.replace("bb8", "other"))), "another integration's"
    assert not is_report_about_bb8(_record(report, logging.DEBUG)), "only warnings and worse count"


async def test_setting_up_using_and_unloading_the_toy_reports_nothing_deprecated(
    hass: HomeAssistant,
    toy: SimulatedBB8,
    ready_entry: MockConfigEntry,
    device_id: str,
    no_deprecation_reports_about_bb8: DeprecationCollector,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The firmware the toy reported is on its device page (found through the entry).
        device = dr.async_get(hass).async_get(device_id)
        assert device is not None
        assert device.sw_version == "{}.{}".format(*toy.firmware)
        # Every action finds its toy through the device registry.
        for service, data in (
            (SERVICE_ROLL, {"heading": 90, "speed": 40}),
            (SERVICE_STOP, {}),
            (SERVICE_SET_HEADING, {"heading": 0}),
        ):
            await hass.services.async_call(DOMAIN, service, {"device_id": device_id, **data}, blocking=True)
        assert await hass.config_entries.async_unload(ready_entry.entry_id)
        await hass.async_block_till_done()

    assert no_deprecation_reports_about_bb8.reports == []
    from_the_integration = [
        warning
        for warning in caught
        if issubclass(warning.category, DeprecationWarning) and "custom_components" in warning.filename
    ]
    assert from_the_integration == []
