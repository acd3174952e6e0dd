// The joystick card's geometry and pacing (custom_components/bb8/frontend/joystick.js), run by
// scripts/test with `node --test tests/card/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DEAD_ZONE,
  DEFAULT_MAX_SPEED,
  DriveLoop,
  REFRESH_INTERVAL_MS,
  ROLL_DURATION_S,
  SEND_INTERVAL_MS,
  arrowsToRoll,
  clampMaxSpeed,
  isArrowKey,
  stickToRoll,
  toyDevices,
} from "../../custom_components/bb8/frontend/joystick.js";

test("up is forward: heading 0, and headings grow clockwise like the toy's", () => {
  assert.equal(stickToRoll(0, -50, 50, 200).heading, 0);
  assert.equal(stickToRoll(50, 0, 50, 200).heading, 90);
  assert.equal(stickToRoll(0, 50, 50, 200).heading, 180);
  assert.equal(stickToRoll(-50, 0, 50, 200).heading, 270);
  assert.equal(stickToRoll(30, -30, 50, 200).heading, 45);
  assert.equal(stickToRoll(-30, -30, 50, 200).heading, 315);
});

test("headings stay within bb8.roll's 0-359 (just left of up rounds to 0, not 360)", () => {
  const roll = stickToRoll(-0.1, -50, 50, 200);
  assert.equal(roll.heading, 0);
  for (let angle = 0; angle < 720; angle += 0.7) {
    const radians = (angle * Math.PI) / 180;
    const { heading } = stickToRoll(Math.sin(radians) * 40, -Math.cos(radians) * 40, 50, 200);
    assert.ok(Number.isInteger(heading) && heading >= 0 && heading <= 359, `${angle}: ${heading}`);
  }
});

test("speed is proportional to the distance from the centre", () => {
  assert.equal(stickToRoll(0, -50, 50, 200).speed, 200);
  assert.equal(stickToRoll(0, -25, 50, 200).speed, 100);
  assert.equal(stickToRoll(20, 0, 80, 200).speed, 50);
});

test("the max speed caps the speed at the rim and beyond it", () => {
  assert.equal(stickToRoll(0, -500, 50, 120).speed, 120);
  assert.equal(stickToRoll(400, 300, 50, 120).speed, 120);
  assert.equal(stickToRoll(0, -500, 50, 1000).speed, 255, "never above the toy's 255");
});

test("the dead zone around the centre stands still", () => {
  assert.equal(stickToRoll(0, 0, 50, 200), null);
  assert.equal(stickToRoll(0, -50 * DEAD_ZONE * 0.99, 50, 200), null);
  assert.notEqual(stickToRoll(0, -50 * DEAD_ZONE * 1.01, 50, 200), null);
  assert.equal(stickToRoll(0, -50, 50, 0), null, "max_speed 0 never rolls");
  assert.equal(stickToRoll(0, -50, 0, 200), null, "a stick with no size never rolls");
});

test("max_speed: a whole number within 0-255, the default when absent or not a number", () => {
  assert.equal(clampMaxSpeed(undefined), DEFAULT_MAX_SPEED);
  assert.equal(clampMaxSpeed("abc"), DEFAULT_MAX_SPEED);
  assert.equal(clampMaxSpeed(80.4), 80);
  assert.equal(clampMaxSpeed(-3), 0);
  assert.equal(clampMaxSpeed(999), 255);
});

test("arrow keys: up forward, down back, right 90, left 270, two together diagonally, at max speed", () => {
  assert.deepEqual(arrowsToRoll(["ArrowUp"], 90), { heading: 0, speed: 90 });
  assert.deepEqual(arrowsToRoll(["ArrowDown"], 90), { heading: 180, speed: 90 });
  assert.deepEqual(arrowsToRoll(["ArrowRight"], 90), { heading: 90, speed: 90 });
  assert.deepEqual(arrowsToRoll(["ArrowLeft"], 90), { heading: 270, speed: 90 });
  assert.deepEqual(arrowsToRoll(["ArrowUp", "ArrowRight"], 90), { heading: 45, speed: 90 });
  assert.equal(arrowsToRoll(["ArrowUp", "ArrowDown"], 90), null);
  assert.equal(arrowsToRoll([], 90), null);
  assert.ok(isArrowKey("ArrowLeft"));
  assert.ok(!isArrowKey("a"));
});

/** A DriveLoop on a fake clock, recording what it sends. */
function fakeLoop() {
  const sent = [];
  let now = 0;
  const timers = new Map();
  let next = 1;
  const loop = new DriveLoop({
    roll: (roll) => sent.push({ at: now, ...roll }),
    stop: () => sent.push({ at: now, stop: true }),
    now: () => now,
    setTimer: (callback, ms) => {
      const handle = next++;
      timers.set(handle, { due: now + ms, callback });
      return handle;
    },
    clearTimer: (handle) => timers.delete(handle),
  });
  /** Let `ms` milliseconds pass, firing timers in order. */
  function advance(ms) {
    const until = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.due <= until).sort((a, b) => a[1].due - b[1].due);
      if (due.length === 0) break;
      const [handle, timer] = due[0];
      timers.delete(handle);
      now = timer.due;
      timer.callback();
    }
    now = until;
  }
  return { loop, sent, advance, timers };
}

test("a drag sends at most ten commands a second, and the latest wish wins", () => {
  const { loop, sent, advance } = fakeLoop();
  // A pointer reporting every 5 ms for one second, turning all the while.
  for (let t = 0; t < 1000; t += 5) {
    loop.move({ heading: Math.floor(t / 5) % 360, speed: 100 });
    advance(5);
  }
  assert.ok(sent.length <= 1000 / SEND_INTERVAL_MS + 1, `${sent.length} commands in a second`);
  assert.ok(sent.length >= 1000 / SEND_INTERVAL_MS - 1, `only ${sent.length} commands in a second`);
  for (let i = 1; i < sent.length; i++) {
    assert.ok(sent[i].at - sent[i - 1].at >= SEND_INTERVAL_MS, "two commands closer than the interval");
  }
  advance(SEND_INTERVAL_MS);
  assert.equal(sent.at(-1).heading, 199, "the last wish went out");
});

test("the first move goes out at once; a changed wish goes out within one interval, not at the refresh", () => {
  const { loop, sent, advance } = fakeLoop();
  loop.move({ heading: 10, speed: 50 });
  assert.deepEqual(sent, [{ at: 0, heading: 10, speed: 50 }]);
  advance(20);
  loop.move({ heading: 20, speed: 50 });
  advance(SEND_INTERVAL_MS);
  assert.deepEqual(sent.at(-1), { at: SEND_INTERVAL_MS, heading: 20, speed: 50 });
});

test("a stick held still re-sends its roll before the timed roll ends", () => {
  const { loop, sent, advance } = fakeLoop();
  loop.move({ heading: 90, speed: 60 });
  advance(5000);
  const times = sent.map((command) => command.at);
  assert.ok(sent.every((command) => command.heading === 90 && command.speed === 60));
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] <= REFRESH_INTERVAL_MS);
  }
  assert.ok(REFRESH_INTERVAL_MS * 2 < ROLL_DURATION_S * 1000, "two refreshes may be lost before it stops");
  assert.ok(5000 - times.at(-1) <= REFRESH_INTERVAL_MS);
});

test("releasing sends a stop at once and nothing after it", () => {
  const { loop, sent, advance, timers } = fakeLoop();
  loop.move({ heading: 0, speed: 60 });
  advance(30);
  loop.move({ heading: 5, speed: 60 }); // waiting for its turn
  loop.release();
  assert.deepEqual(sent.at(-1), { at: 30, stop: true });
  assert.equal(timers.size, 0);
  advance(5000);
  assert.deepEqual(sent.at(-1), { at: 30, stop: true });
  assert.equal(loop.driving, false);
});

test("entering the dead zone stops the toy; leaving it rolls again", () => {
  const { loop, sent, advance } = fakeLoop();
  loop.move({ heading: 0, speed: 60 });
  advance(200);
  loop.move(null);
  assert.deepEqual(sent.at(-1), { at: 200, stop: true });
  advance(2000);
  assert.deepEqual(sent.at(-1), { at: 200, stop: true }, "still in the dead zone: nothing more");
  loop.move({ heading: 180, speed: 30 });
  assert.deepEqual(sent.at(-1), { at: 2200, heading: 180, speed: 30 });
});

test("a card that is not driving never sends a stop (it does not stop an automation's roll)", () => {
  const { loop, sent } = fakeLoop();
  loop.release();
  loop.move(null);
  assert.deepEqual(sent, []);
});

test("a new card gets the first toy by name, whichever Home Assistant set up first", () => {
  const hass = {
    entities: {
      "light.sm_c0df_main_led": { platform: "bb8", device_id: "mini" },
      "light.d2_c0de_front_led": { platform: "bb8", device_id: "r2d2" },
      "light.other": { platform: "hue", device_id: "lamp" },
      "button.bb_c0dd_stop": { platform: "bb8", device_id: "bb8" },
      "button.sm_c0df_stop": { platform: "bb8", device_id: "mini" },
    },
    devices: {
      mini: { name: "SM-C0DF" },
      r2d2: { name: "D2-C0DE", name_by_user: null },
      bb8: { name: "BB-C0DD" },
      lamp: { name: "A lamp" },
    },
  };
  assert.deepEqual(toyDevices(hass, "bb8"), [
    ["bb8", "BB-C0DD"],
    ["r2d2", "D2-C0DE"],
    ["mini", "SM-C0DF"],
  ]);
  hass.devices.mini.name_by_user = "Apollo";
  assert.deepEqual(toyDevices(hass, "bb8")[0], ["mini", "Apollo"]);
});
