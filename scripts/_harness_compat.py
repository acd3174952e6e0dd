"""A pytest plugin that lets an older test harness run against a newer Home Assistant.

Loaded (``-p scripts._harness_compat``) only when BB8_CURRENT_HA runs the current leg on a
release newer than the one pytest-homeassistant-custom-component pins. The harness is Home
Assistant's own test helpers of the release it pins; the newer release moved or changed what
some of them rely on, so without this the harness does not load or mocks the wrong thing. Each
adjustment applies only where the running release needs it, and none touches the integration:

* ``import homeassistant`` first. Since 2026.11 the package aliases ``httpx`` to ``httpx2`` when
  it is imported, and refuses when ``httpx`` was imported before; the harness imports respx
  (hence httpx) before Home Assistant. Loaded with ``-p``, this plugin is imported before the
  harness's.
* ``homeassistant.components.logger._clear_logger_overwrites``: the harness imports it from
  there; 2026.11 keeps it only in ``logger.helpers``. Added back when that module is imported
  (not imported here: the harness patches Home Assistant's time and JSON helpers before it
  imports the rest of Home Assistant).
* ``mock_restore_cache`` and ``mock_restore_cache_with_extra_data``: the harness fills
  ``RestoreStateData.last_states``, which 2026.11 no longer reads (it indexes a stored state by
  entity registry id once the entity is registered). Replaced, where the running release has
  that index, by versions that fill the index by entity_id and move a state to the registry
  index when the entity is registered, as ``RestoreStateData.async_setup`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import importlib.abc
import importlib.machinery
import json
import sys
from types import ModuleType
from typing import Any

import homeassistant  # noqa: F401  (first: see the module docstring)
import pytest

LOGGER_MODULE = "homeassistant.components.logger"


class _LoggerHelperFinder(importlib.abc.MetaPathFinder):
    """Adds ``_clear_logger_overwrites`` to the logger component once it is imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != LOGGER_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _AddingLoader(spec.loader)
                return spec
        return None


class _AddingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        if not hasattr(module, "_clear_logger_overwrites"):
            from homeassistant.components.logger.helpers import _clear_logger_overwrites

            module._clear_logger_overwrites = _clear_logger_overwrites  # type: ignore[attr-defined]


if LOGGER_MODULE not in sys.modules:
    sys.meta_path.insert(0, _LoggerHelperFinder())


def _mock_restore_data(hass: Any, states: Sequence[tuple[Any, Mapping[str, Any] | None]]) -> None:
    from homeassistant.helpers import entity_registry as er, restore_state as rs
    from homeassistant.helpers.json import JSONEncoder
    from homeassistant.util import dt as dt_util

    data = rs.RestoreStateData(hass)
    now = dt_util.utcnow()
    for state, extra_data in states:
        stored = state.as_dict()
        stored = {**stored, "attributes": json.loads(json.dumps(stored["attributes"], cls=JSONEncoder))}
        data.last_states_by_entity_id[state.entity_id] = rs.StoredState.from_dict(
            {"state": stored, "extra_data": extra_data, "last_seen": now}
        )
    assert len(data.last_states_by_entity_id) == len(states), f"Duplicate entity_id? {states}"
    hass.bus.async_listen(
        er.EVENT_ENTITY_REGISTRY_UPDATED,
        data._async_entity_registry_entry_created,
        event_filter=rs._entity_registry_entry_created_filter,
    )
    rs.async_get.cache_clear()
    hass.data[rs.DATA_RESTORE_STATE] = data


def mock_restore_cache(hass: Any, states: Sequence[Any]) -> None:
    """The harness's function of that name, for a release that indexes by registry id."""
    _mock_restore_data(hass, [(state, None) for state in states])


def mock_restore_cache_with_extra_data(hass: Any, states: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
    """The harness's function of that name, for a release that indexes by registry id."""
    _mock_restore_data(hass, states)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Replace the restore mocks once the harness is loaded, before any test module imports them."""
    from homeassistant.helpers import restore_state as rs
    from pytest_homeassistant_custom_component import common

    if hasattr(rs, "_entity_registry_entry_created_filter"):  # the registry id index
        common.mock_restore_cache = mock_restore_cache
        common.mock_restore_cache_with_extra_data = mock_restore_cache_with_extra_data
