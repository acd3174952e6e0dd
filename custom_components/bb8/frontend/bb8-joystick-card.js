// The BB-8 joystick card: drive the toy from a dashboard with a finger, a mouse or the arrow keys.
//
// Served by the integration itself (custom_components/bb8/card.py) and loaded on every dashboard,
// so no resource is added by hand. Plain modern JavaScript with no build step and nothing fetched
// from the internet: it talks only to Home Assistant, through the integration's own actions
// (bb8.roll, bb8.stop, bb8.aim) and entities (main LED, buttons, battery, connected).
import {
  DEFAULT_MAX_SPEED,
  DriveLoop,
  ROLL_DURATION_S,
  arrowsToRoll,
  clampMaxSpeed,
  isArrowKey,
  stickToRoll,
  toyDevices,
} from "./joystick.js";

const CARD_TYPE = "bb8-joystick-card";
const EDITOR_TYPE = "bb8-joystick-card-editor";
const DOMAIN = "bb8";

/** The entities the card shows or presses, by the integration's translation keys. */
const ROLES = {
  main_led: "light",
  battery_estimate: "sensor",
  connected: "binary_sensor",
  sleep: "button",
  wake: "button",
};

/** The toys Home Assistant knows, as [device id, name] pairs, by name (see joystick.js). */
function bb8Devices(hass) {
  return toyDevices(hass, DOMAIN);
}

/** The toy's entities by role: {main_led: "light.bb_b54a_main_led", ...}. */
function entitiesOf(hass, deviceId) {
  const found = {};
  for (const entity of Object.values(hass?.entities ?? {})) {
    if (entity.platform !== DOMAIN || entity.device_id !== deviceId) continue;
    for (const [role, platform] of Object.entries(ROLES)) {
      if (!entity.entity_id.startsWith(`${platform}.`)) continue;
      if (entity.translation_key === role || entity.entity_id.endsWith(`_${role}`)) found[role] = entity.entity_id;
    }
  }
  return found;
}

function rgbToHex(rgb) {
  if (!Array.isArray(rgb) || rgb.length !== 3) return "#ffffff";
  return `#${rgb.map((value) => Number(value).toString(16).padStart(2, "0")).join("")}`;
}

function hexToRgb(hex) {
  const match = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return match ? match.slice(1).map((part) => parseInt(part, 16)) : null;
}

const STYLE = `
  ha-card { padding: 16px; display: flex; flex-direction: column; gap: 12px; }
  .header { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
  .name { font-size: 1.2em; color: var(--primary-text-color); }
  .status { color: var(--secondary-text-color); font-size: 0.9em; }
  .status .off { color: var(--error-color); }
  .pad {
    position: relative; align-self: center; width: min(260px, 70vw); aspect-ratio: 1;
    border-radius: 50%; touch-action: none; user-select: none; -webkit-user-select: none;
    background: radial-gradient(circle, var(--secondary-background-color) 0 14%, transparent 15%),
      var(--card-background-color, #fff);
    border: 2px solid var(--divider-color); box-sizing: border-box; cursor: grab; outline: none;
  }
  .pad:focus-visible { border-color: var(--primary-color); }
  .pad.aiming { border-color: var(--accent-color, var(--primary-color)); border-style: dashed; }
  .pad .forward {
    position: absolute; top: 6px; left: 50%; transform: translateX(-50%);
    color: var(--secondary-text-color); font-size: 0.75em; pointer-events: none;
  }
  .knob {
    position: absolute; left: 50%; top: 50%; width: 28%; aspect-ratio: 1; border-radius: 50%;
    transform: translate(-50%, -50%); background: var(--primary-color); pointer-events: none;
  }
  .controls { display: flex; flex-wrap: wrap; gap: 8px; justify-content: center; align-items: center; }
  button {
    font: inherit; padding: 6px 12px; border-radius: 18px; cursor: pointer;
    border: 1px solid var(--divider-color); background: var(--secondary-background-color);
    color: var(--primary-text-color);
  }
  button.stop { background: var(--error-color); color: var(--text-primary-color, #fff); border-color: transparent; }
  button[aria-pressed="true"] { background: var(--primary-color); color: var(--text-primary-color, #fff); }
  input[type="color"] { width: 40px; height: 32px; border: none; padding: 0; background: none; cursor: pointer; }
  .hint, .error { font-size: 0.85em; text-align: center; }
  .hint { color: var(--secondary-text-color); }
  .error { color: var(--error-color); min-height: 1em; }
`;

class BB8JoystickCard extends HTMLElement {
  /** What the card picker puts on a new card: the first BB-8 found. */
  static getStubConfig(hass) {
    const [first] = bb8Devices(hass);
    return { device_id: first ? first[0] : "", max_speed: DEFAULT_MAX_SPEED };
  }

  static getConfigElement() {
    return document.createElement(EDITOR_TYPE);
  }

  constructor() {
    super();
    this._config = { device_id: "", max_speed: DEFAULT_MAX_SPEED };
    this._maxSpeed = DEFAULT_MAX_SPEED;
    this._hass = null;
    this._connection = null;
    this._pointerId = null;
    this._keys = new Set();
    this._aiming = false;
    this._aimHeading = null;
    this._drive = new DriveLoop({
      roll: ({ heading, speed }) =>
        this._call("roll", { heading, speed, duration: ROLL_DURATION_S }),
      stop: () => this._call("stop", {}),
    });
    this._aim = new DriveLoop({
      roll: ({ heading }) => {
        this._aimHeading = heading;
        this._call("aim", { heading });
      },
      stop: () => {},
    });
    this._onVisibility = () => {
      if (document.visibilityState === "hidden") this._letGo(false);
    };
    this._onPageHide = () => this._letGo(false);
    this._onDisconnected = () => this._letGo(false);
    this.attachShadow({ mode: "open" });
  }

  setConfig(config) {
    if (!config || typeof config !== "object") throw new Error("Invalid configuration");
    this._config = { ...config };
    this._maxSpeed = clampMaxSpeed(config.max_speed);
    this._render();
  }

  set hass(hass) {
    this._hass = hass;
    if (this.isConnected) this._watchConnection(hass?.connection ?? null);
    if (!this.shadowRoot.querySelector("ha-card")) this._render();
    this._update();
  }

  get hass() {
    return this._hass;
  }

  getCardSize() {
    return 6;
  }

  getGridOptions() {
    return { columns: 6, min_columns: 4, rows: "auto" };
  }

  /** Let go of the stick when this connection to Home Assistant drops (and only this one). */
  _watchConnection(connection) {
    if (connection === this._connection) return;
    this._connection?.removeEventListener?.("disconnected", this._onDisconnected);
    this._connection = connection;
    this._connection?.addEventListener?.("disconnected", this._onDisconnected);
  }

  connectedCallback() {
    this._watchConnection(this._hass?.connection ?? null);
    document.addEventListener("visibilitychange", this._onVisibility);
    window.addEventListener("pagehide", this._onPageHide);
    document.addEventListener("freeze", this._onPageHide);
  }

  disconnectedCallback() {
    // Leaving the dashboard (another view, the editor) lets go of the stick as well.
    this._letGo(false);
    document.removeEventListener("visibilitychange", this._onVisibility);
    window.removeEventListener("pagehide", this._onPageHide);
    document.removeEventListener("freeze", this._onPageHide);
    this._watchConnection(null);
  }

  _render() {
    this.shadowRoot.innerHTML = `
      <style>${STYLE}</style>
      <ha-card>
        <div class="header">
          <span class="name"></span>
          <span class="status"><span class="battery"></span> · <span class="link"></span></span>
        </div>
        <div class="pad" tabindex="0" role="application"
             aria-label="Joystick: drag it, or use the arrow keys, to roll the toy">
          <span class="forward">▲ forward</span>
          <div class="knob"></div>
        </div>
        <div class="controls">
          <input type="color" class="led" title="Main LED colour" aria-label="Main LED colour">
          <button class="aim" aria-pressed="false" title="Drag to turn the toy, release to make that its forward">Aim</button>
          <button class="stop">Stop</button>
          <button class="sleep">Sleep</button>
          <button class="wake">Wake</button>
        </div>
        <div class="hint">Max speed ${this._maxSpeed}</div>
        <div class="error" role="status"></div>
      </ha-card>`;
    const root = this.shadowRoot;
    const pad = root.querySelector(".pad");
    pad.addEventListener("pointerdown", (event) => this._pointerDown(event));
    pad.addEventListener("pointermove", (event) => this._pointerMove(event));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      pad.addEventListener(type, (event) => {
        if (event.pointerId === this._pointerId) this._letGo(type === "pointerup");
      });
    }
    pad.addEventListener("keydown", (event) => this._keyDown(event));
    pad.addEventListener("keyup", (event) => this._keyUp(event));
    pad.addEventListener("blur", () => this._letGo(false));
    root.querySelector(".stop").addEventListener("click", () => {
      this._letGo(false);
      this._call("stop", {});
    });
    root.querySelector(".aim").addEventListener("click", () => this._setAiming(!this._aiming));
    root.querySelector(".sleep").addEventListener("click", () => this._press("sleep"));
    root.querySelector(".wake").addEventListener("click", () => this._press("wake"));
    root.querySelector(".led").addEventListener("change", (event) => this._setColour(event.target.value));
    this._update();
  }

  _update() {
    const root = this.shadowRoot;
    const card = root.querySelector("ha-card");
    if (!card) return;
    const hass = this._hass;
    const deviceId = this._config.device_id;
    const device = hass?.devices?.[deviceId];
    root.querySelector(".name").textContent =
      this._config.name || device?.name_by_user || device?.name || "BB-8";
    const entities = entitiesOf(hass, deviceId);
    this._entities = entities;
    const battery = hass?.states?.[entities.battery_estimate];
    const batteryText = battery && !["unknown", "unavailable"].includes(battery.state)
      ? `Battery ${battery.state} ${battery.attributes.unit_of_measurement ?? "%"}`
      : "Battery —";
    root.querySelector(".battery").textContent = batteryText;
    const connected = hass?.states?.[entities.connected]?.state;
    const link = root.querySelector(".link");
    link.textContent = connected === "on" ? "Connected" : connected === "off" ? "Not connected" : "Unavailable";
    link.className = connected === "on" ? "link" : "link off";
    const led = hass?.states?.[entities.main_led];
    const input = root.querySelector(".led");
    if (led && root.activeElement !== input) input.value = rgbToHex(led.attributes.rgb_color);
    if (!deviceId) root.querySelector(".error").textContent = "Choose a BB-8 in the card's settings.";
  }

  _offset(event) {
    const pad = this.shadowRoot.querySelector(".pad");
    const box = pad.getBoundingClientRect();
    const radius = box.width / 2;
    return {
      dx: event.clientX - (box.left + radius),
      dy: event.clientY - (box.top + box.height / 2),
      radius,
    };
  }

  _pointerDown(event) {
    if (this._pointerId !== null) return;
    this._pointerId = event.pointerId;
    event.currentTarget.setPointerCapture?.(event.pointerId);
    // No text selection or native drag while steering; that also keeps the browser from
    // focusing the stick, so focus it here: the arrow keys then drive.
    event.preventDefault();
    event.currentTarget.focus({ preventScroll: true });
    this._pointerMove(event);
  }

  _pointerMove(event) {
    if (event.pointerId !== this._pointerId) return;
    const { dx, dy, radius } = this._offset(event);
    this._moveKnob(dx, dy, radius);
    this._steer(stickToRoll(dx, dy, radius, this._maxSpeed));
  }

  _keyDown(event) {
    if (!isArrowKey(event.key)) return;
    event.preventDefault();
    this._keys.add(event.key);
    const roll = arrowsToRoll(this._keys, this._maxSpeed);
    this._showRoll(roll);
    this._steer(roll);
  }

  _keyUp(event) {
    if (!isArrowKey(event.key)) return;
    event.preventDefault();
    this._keys.delete(event.key);
    if (this._keys.size === 0) {
      this._letGo(true);
      return;
    }
    const roll = arrowsToRoll(this._keys, this._maxSpeed);
    this._showRoll(roll);
    this._steer(roll);
  }

  /** Drive (or, in aim mode, turn) towards the stick's roll. */
  _steer(roll) {
    if (this._aiming) {
      if (roll !== null) this._aim.move(roll);
      return;
    }
    this._drive.move(roll);
  }

  /**
   * The stick is let go. `released` is a person's release (pointer up, keys up): in aim mode it
   * makes the direction faced the toy's forward. Anything else (a cancelled pointer, the page
   * hidden, the connection lost) only stops.
   */
  _letGo(released) {
    this._pointerId = null;
    this._keys.clear();
    this._moveKnob(0, 0, 1);
    this._drive.release();
    this._aim.release();
    if (this._aiming && released && this._aimHeading !== null) {
      this._call("aim", { heading: this._aimHeading, set_as_forward: true });
      this._setAiming(false);
    }
  }

  _setAiming(aiming) {
    this._drive.release();
    this._aiming = aiming;
    this._aimHeading = null;
    const button = this.shadowRoot.querySelector(".aim");
    button?.setAttribute("aria-pressed", String(aiming));
    this.shadowRoot.querySelector(".pad")?.classList.toggle("aiming", aiming);
    const hint = this.shadowRoot.querySelector(".hint");
    if (hint) {
      hint.textContent = aiming
        ? "Aim: drag to turn it, release to make that forward"
        : `Max speed ${this._maxSpeed}`;
    }
  }

  _showRoll(roll) {
    if (roll === null) {
      this._moveKnob(0, 0, 1);
      return;
    }
    const radians = (roll.heading * Math.PI) / 180;
    const fraction = this._maxSpeed ? roll.speed / this._maxSpeed : 0;
    this._moveKnob(Math.sin(radians) * fraction, -Math.cos(radians) * fraction, 1);
  }

  _moveKnob(dx, dy, radius) {
    const knob = this.shadowRoot.querySelector(".knob");
    if (!knob) return;
    const scale = Math.min(1, radius / Math.max(Math.hypot(dx, dy), 1e-9));
    // Percentages of the pad, so the knob follows however large the pad is drawn.
    const x = ((dx * scale) / radius) * 50;
    const y = ((dy * scale) / radius) * 50;
    knob.style.left = `calc(50% + ${x}%)`;
    knob.style.top = `calc(50% + ${y}%)`;
  }

  /** Call one of the integration's actions for this card's toy; show what went wrong, if anything. */
  _call(service, data) {
    this._send({ domain: DOMAIN, service, service_data: { device_id: this._config.device_id, ...data } });
  }

  _press(role) {
    const entityId = this._entities?.[role];
    if (!entityId) {
      this._showError(`This BB-8 has no ${role} button.`);
      return;
    }
    this._send({ domain: "button", service: "press", service_data: { entity_id: entityId } });
  }

  _setColour(hex) {
    const entityId = this._entities?.main_led;
    const rgb = hexToRgb(hex);
    if (!entityId || !rgb) return;
    this._send({ domain: "light", service: "turn_on", service_data: { entity_id: entityId, rgb_color: rgb } });
  }

  _send(message) {
    const hass = this._hass;
    if (!hass || !this._config.device_id) return;
    this._showError("");
    // Through the websocket directly rather than hass.callService, which would raise a toast for
    // each of ten commands a second while the toy is out of reach; the card shows one line.
    hass.callWS({ type: "call_service", ...message }).catch((error) => {
      this._showError(error?.message || String(error?.code || error));
    });
  }

  _showError(text) {
    const line = this.shadowRoot.querySelector(".error");
    if (line) line.textContent = text;
  }
}

/** The visual editor: which BB-8, the maximum speed and an optional name. */
class BB8JoystickCardEditor extends HTMLElement {
  setConfig(config) {
    this._config = { ...config };
    this._render();
  }

  set hass(hass) {
    this._hass = hass;
    this._render();
  }

  _render() {
    if (!this._hass || !this._config) return;
    if (!this._form) {
      this._form = document.createElement("ha-form");
      this._form.computeLabel = (schema) =>
        ({ device_id: "BB-8", max_speed: "Maximum speed (0-255)", name: "Name" })[schema.name];
      this._form.addEventListener("value-changed", (event) => {
        const config = { ...this._config, ...event.detail.value };
        this._config = config;
        this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
      });
      this.appendChild(this._form);
    }
    this._form.hass = this._hass;
    this._form.schema = [
      { name: "device_id", required: true, selector: { device: { integration: DOMAIN } } },
      { name: "max_speed", selector: { number: { min: 0, max: 255, step: 1, mode: "slider" } } },
      { name: "name", selector: { text: {} } },
    ];
    this._form.data = { max_speed: DEFAULT_MAX_SPEED, ...this._config };
  }
}

if (!customElements.get(CARD_TYPE)) customElements.define(CARD_TYPE, BB8JoystickCard);
if (!customElements.get(EDITOR_TYPE)) customElements.define(EDITOR_TYPE, BB8JoystickCardEditor);

window.customCards = window.customCards || [];
if (!window.customCards.some((card) => card.type === CARD_TYPE)) {
  window.customCards.push({
    type: CARD_TYPE,
    name: "BB-8 joystick",
    description: "Drive a Sphero BB-8: a joystick, its LED colour, Aim, Stop, Sleep and Wake.",
    preview: true,
  });
}
