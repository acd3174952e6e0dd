"""A small client for the Home Assistant REST calls developer mode, its test and the screenshot make.

Everything goes through the same endpoints the frontend uses (onboarding, the login flow, the
token endpoint, config flows, states, actions), so developer mode is set up the way a person
would set it up in the browser, only faster. Only ever pointed at 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

import aiohttp

POLL_INTERVAL: Final = 0.25
DISCOVERY_NOTIFICATION_COOLDOWN: Final = 1.5  # Home Assistant's DISCOVERY_COOLDOWN is 1 s
DISCOVERY_SOURCES: Final = frozenset(
    {"bluetooth", "dhcp", "ssdp", "usb", "zeroconf", "integration_discovery"}
)


class HomeAssistantApiError(RuntimeError):
    """Home Assistant answered, but not as developer mode expected (the message says what)."""


class HomeAssistantApi:
    """Talk to one Home Assistant over HTTP; :meth:`login` stores the access token it gets."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        """Use ``http`` for every request; ``base_url`` is e.g. ``http://127.0.0.1:8123``."""
        self.http = http
        self.base_url = base_url.rstrip("/")
        # The frontend uses its own origin as OAuth client id; so do we, which indieauth accepts.
        self.client_id = f"{self.base_url}/"
        self.access_token: str | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.access_token is None:
            return {}
        return {"Authorization": f"Bearer {self.access_token}"}

    async def request(
        self, method: str, path: str, *, json: Any = None, data: Any = None, expect: int | None = 200
    ) -> Any:
        """Send one request; return the decoded JSON body (or text), raising on an unexpected status."""
        async with self.http.request(
            method, f"{self.base_url}{path}", json=json, data=data, headers=self._headers()
        ) as response:
            body: Any
            if response.content_type == "application/json":
                body = await response.json()
            else:
                body = await response.text()
            if expect is not None and response.status != expect:
                raise HomeAssistantApiError(f"{method} {path}: HTTP {response.status}: {body}")
            return body

    async def get(self, path: str) -> Any:
        """GET ``path`` (200 expected)."""
        return await self.request("GET", path)

    async def post(self, path: str, payload: Any = None) -> Any:
        """POST JSON to ``path`` (200 expected)."""
        return await self.request("POST", path, json=payload if payload is not None else {})

    # -- start-up ----------------------------------------------------------------------------

    async def wait_until_up(
        self,
        timeout: float,  # noqa: ASYNC109 - a deadline, not a scope
        alive: Callable[[], bool] | None = None,
    ) -> None:
        """Wait until Home Assistant can be onboarded or logged into.

        Either the onboarding views answer (not onboarded yet), or the login providers do
        (``/auth/providers`` says 400 until a user exists). Each comes up with its own
        integration, so one answering says nothing about the other. ``alive`` says whether the
        Home Assistant process still runs, so a crash at start-up fails at once.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        last_error = "no answer"
        while True:
            if alive is not None and not alive():
                raise HomeAssistantApiError("Home Assistant exited during start-up (see its log)")
            try:
                async with self.http.get(f"{self.base_url}/api/onboarding") as response:
                    if response.status == 200:
                        return
                async with self.http.get(f"{self.base_url}/auth/providers") as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status} from /auth/providers"
            except aiohttp.ClientError as err:
                last_error = str(err) or type(err).__name__
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"Home Assistant did not answer at {self.base_url} within {timeout:.0f} s ({last_error})"
                )
            await asyncio.sleep(POLL_INTERVAL)

    async def wait_until_running(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until Home Assistant has started (discovery flows start only then)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (state := (await self.get("/api/config")).get("state")) != "RUNNING":
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"Home Assistant did not finish starting within {timeout:.0f} s (state {state})"
                )
            await asyncio.sleep(POLL_INTERVAL)

    # -- onboarding and login ----------------------------------------------------------------

    async def onboard(self, name: str, username: str, password: str) -> None:
        """Complete the onboarding steps not done yet, as the frontend's onboarding pages do.

        The user step returns an authorization code, traded for a token that the remaining
        steps need. An instance that is already onboarded has no onboarding views (404).
        """
        status = await self.request("GET", "/api/onboarding", expect=None)
        if not isinstance(status, list):
            return  # onboarded: the views are gone
        pending = {step["step"] for step in status if not step["done"]}
        if "user" in pending:
            created = await self.post(
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": name,
                    "username": username,
                    "password": password,
                    "language": "en",
                },
            )
            await self._exchange_code(created["auth_code"])
        else:
            await self.login(username, password)
        if "core_config" in pending:
            await self.post("/api/onboarding/core_config")
        if "analytics" in pending:
            await self.post("/api/onboarding/analytics")
        if "integration" in pending:
            await self.post(
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": f"{self.base_url}/?auth_callback=1"},
            )

    async def authorization_code(self, username: str, password: str) -> str:
        """Run the login flow the login page runs; returns the OAuth authorization code."""
        flow = await self.post(
            "/auth/login_flow",
            {"client_id": self.client_id, "handler": ["homeassistant", None], "redirect_uri": self.client_id},
        )
        result = await self.post(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantApiError(f"login as {username!r} failed: {result.get('errors') or result}")
        code: str = result["result"]
        return code

    async def login(self, username: str, password: str) -> str:
        """Log in through the login flow and the token endpoint; returns (and keeps) the access token."""
        return await self._exchange_code(await self.authorization_code(username, password))

    async def _exchange_code(self, code: str) -> str:
        tokens = await self.request(
            "POST",
            "/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        token: str = tokens["access_token"]
        self.access_token = token
        return token

    async def websocket_command(self, message: dict[str, Any]) -> Any:
        """Send one WebSocket API command (authenticated with the access token); return its result."""
        async with self.http.ws_connect(f"{self.base_url}/api/websocket") as socket:
            await socket.receive_json()  # auth_required
            await socket.send_json({"type": "auth", "access_token": self.access_token})
            if (reply := await socket.receive_json())["type"] != "auth_ok":
                raise HomeAssistantApiError(f"WebSocket authentication failed: {reply}")
            await socket.send_json({"id": 1, **message})
            reply = await socket.receive_json()
            if not reply.get("success"):
                raise HomeAssistantApiError(f"WebSocket {message['type']} failed: {reply.get('error')}")
            return reply["result"]

    # -- config flows ------------------------------------------------------------------------

    async def add_esphome_node(self, host: str, port: int) -> dict[str, Any]:
        """Add an ESPHome node as a person does: Settings > Add integration > ESPHome, host and port.

        Home Assistant's own esphome config flow connects to the node and reads its device info.
        For a node it already knows (by MAC) the flow ends with ``already_configured`` and moves
        the entry to this host and port; so running it on every start is safe. Returns the
        flow's last result (``create_entry`` or ``abort``).
        """
        form = await self.post("/api/config/config_entries/flow", {"handler": "esphome"})
        if form.get("type") != "form" or form.get("step_id") != "user":
            raise HomeAssistantApiError(f"the esphome config flow did not ask for a host: {form}")
        result: dict[str, Any] = await self.post(
            f"/api/config/config_entries/flow/{form['flow_id']}", {"host": host, "port": port}
        )
        if result.get("type") == "create_entry":
            return result
        if result.get("type") == "abort" and result.get("reason") == "already_configured":
            return result
        raise HomeAssistantApiError(f"adding the ESPHome node at {host}:{port} failed: {result}")

    async def esphome_entries(self) -> list[dict[str, Any]]:
        """Return the esphome config entries (title, state, entry id)."""
        entries: list[dict[str, Any]] = await self.get("/api/config/config_entries/entry?domain=esphome")
        return entries

    async def toy_devices(self) -> dict[str, dict[str, Any]]:
        """Return the Sphero toys' devices by Bluetooth address (a device exists once its entry has set up).

        The REST list of config entries does not carry their unique ids (the address), so the
        device registry, which keeps each toy's Bluetooth connection, answers instead.
        """
        entries = await self.get("/api/config/config_entries/entry?domain=bb8")
        entry_ids = {entry["entry_id"] for entry in entries}
        devices = await self.websocket_command({"type": "config/device_registry/list"})
        found: dict[str, dict[str, Any]] = {}
        for device in devices:
            if not entry_ids.intersection(device["config_entries"]):
                continue
            for kind, value in device["connections"]:
                if kind == "bluetooth":
                    found[value.upper()] = device
        return found

    async def configured_addresses(self) -> set[str]:
        """Addresses of the toys that are set up (see :meth:`toy_devices`)."""
        return set(await self.toy_devices())

    async def wait_for_device(self, address: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the toy at ``address`` has a device (its entry finished setting up)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (device := (await self.toy_devices()).get(address.upper())) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the toy {address} was not set up within {timeout:.0f} s")
            await asyncio.sleep(POLL_INTERVAL)
        return device

    async def discovered_flows(self) -> list[dict[str, Any]]:
        """Return the Sphero config flows that Bluetooth discovery started (the "Discovered" cards).

        Home Assistant lists flows in progress only over the WebSocket API, as the frontend
        asks for them; continuing a flow is then plain REST.
        """
        flows = await self.websocket_command({"type": "config_entries/flow/progress"})
        return [
            flow
            for flow in flows
            if flow["handler"] == "bb8" and flow["context"].get("source") == "bluetooth"
        ]

    async def discovered_addresses(self) -> set[str]:
        """Addresses of toys shown as discovered (a flow waiting for the user's confirmation)."""
        return {flow["context"].get("unique_id") for flow in await self.discovered_flows()}

    async def wait_for_discovery(self, address: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until Bluetooth discovery has offered the toy at ``address``; returns the flow."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for flow in await self.discovered_flows():
                if flow["context"].get("unique_id") == address:
                    return flow
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the simulated toy {address} was not discovered within {timeout:.0f} s")
            await asyncio.sleep(POLL_INTERVAL)

    async def confirm_discovered_toy(self, address: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """Press "Add" on the discovered toy: the confirm step connects, tests and creates the entry."""
        flow = await self.wait_for_discovery(address, timeout)
        result: dict[str, Any] = await self.post(f"/api/config/config_entries/flow/{flow['flow_id']}", {})
        if result.get("type") != "create_entry":
            raise HomeAssistantApiError(f"setting up {address} did not create an entry: {result}")
        return result

    async def dismiss_stale_discovery_notification(self) -> None:
        """Dismiss "New devices discovered" once no discovery flow is left.

        Home Assistant dismisses it itself when the last discovery flow finishes. A flow that
        a script confirms within the notification's one-second debounce of the discovery
        leaves it behind, though (seen with ``--configure``; a person is never that quick).
        """
        await asyncio.sleep(DISCOVERY_NOTIFICATION_COOLDOWN)
        flows = await self.websocket_command({"type": "config_entries/flow/progress"})
        if not any(flow["context"].get("source") in DISCOVERY_SOURCES for flow in flows):
            await self.call(
                "persistent_notification", "dismiss", {"notification_id": "config_entry_discovery"}
            )

    # -- states, templates, actions ------------------------------------------------------------

    async def render(self, template: str) -> str:
        """Render a template (how the REST API reaches registries it has no endpoint for)."""
        text: str = await self.request("POST", "/api/template", json={"template": template})
        return text

    async def state(self, entity_id: str) -> dict[str, Any]:
        """Return the state object of ``entity_id``."""
        state: dict[str, Any] = await self.get(f"/api/states/{entity_id}")
        return state

    async def call(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        """Call an action and wait for it, as the REST API does."""
        return await self.post(f"/api/services/{domain}/{service}", data)
