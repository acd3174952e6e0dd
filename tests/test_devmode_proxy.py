"""Developer mode's choice of proxy and the simulated ESPHome node's port, without Home Assistant.

``scripts/develop`` puts the toys behind a simulated ESPHome node by default (``--proxy
esphome``) and keeps the project's own remote scanner behind ``--proxy scanner``; the node's port
survives restarts while it is free, so the esphome entry made for it stays right. The end-to-end
test (``test_e2e_develop.py``) runs both paths through a real Home Assistant.
"""

from __future__ import annotations

from pathlib import Path
import socket

import pytest

from bb8sim.devmode import (
    NODE_PORT_FILE,
    PROXY_ESPHOME,
    PROXY_SCANNER,
    choose_node_port,
    developer_mode_domains,
    prepare_config,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_the_node_keeps_its_port_while_it_is_free(socket_enabled: None, tmp_path: Path) -> None:
    """A restart reuses the stored port; a port someone else holds is replaced by a free one."""
    first = choose_node_port(tmp_path)
    prepare_config(tmp_path, REPO_ROOT, port=8123, toys=1, faults="", esphome_port=first)
    assert (tmp_path / NODE_PORT_FILE).read_text().strip() == str(first)
    assert choose_node_port(tmp_path) == first

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", first))
        holder.listen()
        second = choose_node_port(tmp_path)
    assert second != first
    assert 1024 <= second <= 65535


def test_configuration_names_the_proxy(tmp_path: Path) -> None:
    """The companion's block says which proxy, and where the node listens."""
    prepare_config(tmp_path / "a", REPO_ROOT, port=8123, toys=2, faults="", esphome_port=40123)
    text = (tmp_path / "a" / "configuration.yaml").read_text()
    assert f"proxy: {PROXY_ESPHOME}\n" in text
    assert "esphome_port: 40123\n" in text
    assert "esphome integration drives" in text

    prepare_config(tmp_path / "b", REPO_ROOT, port=8123, toys=1, faults="", proxy=PROXY_SCANNER)
    assert f"proxy: {PROXY_SCANNER}\n" in (tmp_path / "b" / "configuration.yaml").read_text()
    assert not (tmp_path / "b" / NODE_PORT_FILE).exists()

    with pytest.raises(ValueError, match="--proxy"):
        prepare_config(tmp_path / "c", REPO_ROOT, port=8123, toys=1, faults="", proxy="bluez")


def test_developer_mode_installs_what_esphome_needs() -> None:
    """esphome (set up through its config flow, not YAML) is among the domains whose requirements
    developer mode's venv installs, so ``hass --skip-pip`` can load it."""
    assert "esphome" in developer_mode_domains()
