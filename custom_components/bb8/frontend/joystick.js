// The joystick's arithmetic and pacing, kept free of the DOM and of Home Assistant so that
// `node --test tests/card/` checks it exactly as the card in the browser runs it.

/** Speed when the card sets no max_speed: about 40 % of the toy's 0-255, gentle indoors. */
export const DEFAULT_MAX_SPEED = 100;

/** Fraction of the stick's radius around the centre that means "stand still". */
export const DEAD_ZONE = 0.15;

/** Minimum time between two commands while dragging: at most ten a second. */
export const SEND_INTERVAL_MS = 100;

/** A stick held still re-sends its roll this often, well within ROLL_DURATION_S. */
export const REFRESH_INTERVAL_MS = 500;

/**
 * Every roll the card sends is a timed roll of this many seconds (bb8.roll's `duration`): the
 * integration stops the toy when it ends, unless a newer roll or stop came. A held stick re-sends
 * its roll every REFRESH_INTERVAL_MS, so it keeps rolling; a page that dies without a word (a
 * crashed tab, a phone that lost its network) leaves a toy that stops by itself within this time.
 */
export const ROLL_DURATION_S = 1.5;

/** The toy's own speed range (bb8.roll's `speed`). */
const MAX_TOY_SPEED = 255;

/**
 * The toys Home Assistant knows for the integration `domain`, as [device id, name] pairs sorted
 * by name: a new card gets the first (the editor lists them in this order), so which toy it gets
 * does not depend on which toy Home Assistant happened to set up first.
 * @param {any} hass
 * @param {string} domain
 * @returns {Array<[string, string]>}
 */
export function toyDevices(hass, domain) {
  const ids = new Set();
  for (const entity of Object.values(hass?.entities ?? {})) {
    if (entity.platform === domain && entity.device_id) ids.add(entity.device_id);
  }
  return [...ids]
    .map((id) => {
      const device = hass.devices?.[id];
      return /** @type {[string, string]} */ ([id, device?.name_by_user || device?.name || id]);
    })
    .sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
}

/**
 * A card's max_speed option as a whole number within the toy's 0-255.
 * @param {unknown} value
 * @returns {number}
 */
export function clampMaxSpeed(value) {
  const number = Number(value ?? DEFAULT_MAX_SPEED);
  if (!Number.isFinite(number)) return DEFAULT_MAX_SPEED;
  return Math.min(MAX_TOY_SPEED, Math.max(0, Math.round(number)));
}

/**
 * Turn the stick's offset from its centre into a roll.
 *
 * Screen coordinates: x grows to the right, y grows downwards. Up on the screen is the toy's
 * forward direction (heading 0, bb8.roll's own 0), and headings grow clockwise as the toy's do
 * (right is 90, down 180, left 270). The speed is proportional to the distance from the centre:
 * the rim (or beyond it) gives maxSpeed. Inside the dead zone the answer is null: stand still.
 *
 * @param {number} dx offset to the right, in pixels
 * @param {number} dy offset downwards, in pixels
 * @param {number} radius the stick's radius in pixels (the rim)
 * @param {number} maxSpeed the card's cap, 0-255
 * @param {number} [deadZone] fraction of the radius that is still
 * @returns {{heading: number, speed: number} | null}
 */
export function stickToRoll(dx, dy, radius, maxSpeed, deadZone = DEAD_ZONE) {
  if (!(radius > 0)) return null;
  const fraction = Math.min(1, Math.hypot(dx, dy) / radius);
  if (fraction < deadZone) return null;
  const speed = Math.round(clampMaxSpeed(maxSpeed) * fraction);
  if (speed === 0) return null;
  // atan2(x, -y) measures clockwise from straight up.
  const degrees = (Math.atan2(dx, -dy) * 180) / Math.PI;
  const heading = Math.round((degrees + 360) % 360) % 360;
  return { heading, speed };
}

/** Arrow keys as unit offsets (screen coordinates, as stickToRoll takes them). */
const ARROWS = {
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
};

/**
 * The roll for the arrow keys held down: up forward, down back, left and right turn to 270 and
 * 90, two keys together go diagonally; all at maxSpeed. Opposite keys cancel out (null: stop).
 *
 * @param {Iterable<string>} keys the `KeyboardEvent.key` values held down
 * @param {number} maxSpeed
 * @returns {{heading: number, speed: number} | null}
 */
export function arrowsToRoll(keys, maxSpeed) {
  let dx = 0;
  let dy = 0;
  for (const key of keys) {
    const arrow = ARROWS[key];
    if (arrow) {
      dx += arrow[0];
      dy += arrow[1];
    }
  }
  if (dx === 0 && dy === 0) return null;
  const length = Math.hypot(dx, dy);
  return stickToRoll(dx / length, dy / length, 1, maxSpeed);
}

/** Whether a key is one the card drives with. */
export function isArrowKey(key) {
  return Object.hasOwn(ARROWS, key);
}

/**
 * Paces what the stick asks for into commands.
 *
 * `move(roll)` with the latest roll (or null for the dead zone) while the stick is held;
 * `release()` when it lets go for any reason. At most one command per SEND_INTERVAL_MS goes out,
 * and the latest wish wins: rolls asked for between two sends are replaced, never queued. A roll
 * held still is re-sent every REFRESH_INTERVAL_MS. Entering the dead zone or releasing sends one
 * stop, at once (a stop is never delayed by pacing), but only if this loop rolled the toy since its
 * last stop: a card that is not driving never stops what an automation started.
 *
 * The clock and timers are given, so tests run it on a fake clock.
 */
export class DriveLoop {
  /**
   * @param {object} options
   * @param {(roll: {heading: number, speed: number}) => void} options.roll send one roll
   * @param {() => void} options.stop send one stop
   * @param {() => number} [options.now] milliseconds
   * @param {(callback: () => void, ms: number) => unknown} [options.setTimer]
   * @param {(handle: unknown) => void} [options.clearTimer]
   */
  constructor({ roll, stop, now, setTimer, clearTimer }) {
    this._roll = roll;
    this._stop = stop;
    this._now = now ?? (() => performance.now());
    this._setTimer = setTimer ?? ((callback, ms) => setTimeout(callback, ms));
    this._clearTimer = clearTimer ?? ((handle) => clearTimeout(handle));
    this._latest = null;
    this._lastSent = -Infinity;
    this._timer = null;
    this._timerDue = Infinity;
    /** Whether the toy may be rolling because of this loop (a roll went out, no stop since). */
    this.driving = false;
  }

  /** The stick is held at `roll` (null: in the dead zone). */
  move(roll) {
    if (roll === null) {
      this._latest = null;
      this._cancelTimer();
      this._sendStop();
      return;
    }
    this._latest = roll;
    const wait = this._lastSent + SEND_INTERVAL_MS - this._now();
    if (wait <= 0) {
      this._sendLatest();
    } else if (this._timer === null || this._timerDue > this._now() + wait) {
      // Sooner than a pending refresh: a changed wish goes out as soon as pacing allows.
      this._schedule(wait);
    }
  }

  /** The stick was let go (released, cancelled, page hidden, connection lost): stop. */
  release() {
    this._latest = null;
    this._cancelTimer();
    this._sendStop();
  }

  _sendLatest() {
    this._cancelTimer();
    if (this._latest === null) return;
    this._lastSent = this._now();
    this.driving = true;
    this._roll(this._latest);
    this._schedule(REFRESH_INTERVAL_MS);
  }

  _sendStop() {
    if (!this.driving) return;
    this.driving = false;
    this._stop();
  }

  _schedule(ms) {
    this._cancelTimer();
    this._timerDue = this._now() + ms;
    this._timer = this._setTimer(() => {
      this._timer = null;
      this._sendLatest();
    }, ms);
  }

  _cancelTimer() {
    if (this._timer !== null) {
      this._clearTimer(this._timer);
      this._timer = null;
    }
  }
}
