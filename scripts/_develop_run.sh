#!/usr/bin/env bash
# Developer mode's run, in whichever environment scripts/develop chose: on the host (.venv for the
# floor, .venv-develop-current for the current release) or inside the Debian forky root (its
# /opt/bb8-develop-venv), where scripts/develop starts this through _in_root.sh with the config
# folder bind-mounted at the same path. It writes the config folder, starts Home Assistant,
# completes onboarding through the REST API (and --configure), prints the banner, and on
# SIGINT/SIGTERM/SIGHUP stops Home Assistant cleanly and exits with its status (0).
#
#   usage _develop_run.sh PYTHON CONFIG_DIR PORT TOYS FAULTS CONFIGURE(0|1) WHERE PROXY
# PYTHON is the venv's python (its hass sits beside it); WHERE says in words where it runs;
# PROXY is esphome (the simulated ESPHome node, added through Home Assistant's esphome config
# flow) or scanner (the project's own remote scanner).
# Everything it needs is installed already: hass runs with --skip-pip.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_python.sh"
cd "$REPO_ROOT"

PY="$1"
CONFIG_DIR="$2"
PORT="$3"
TOYS="$4"
FAULTS="$5"
CONFIGURE="$6"
WHERE="$7"
PROXY="${8:-esphome}"
HASS="$(dirname "$PY")/hass"

"$PY" -m bb8sim.devmode check-faults "$FAULTS"
# prepare prints the simulated ESPHome node's port (0 with --proxy scanner).
NODE_PORT="$("$PY" -m bb8sim.devmode prepare --config "$CONFIG_DIR" --repo "$REPO_ROOT" \
    --port "$PORT" --toys "$TOYS" --faults "$FAULTS" --proxy "$PROXY")"
# scripts/develop forwards its signals to this process: it needs the pid, and in the Debian root
# only the config folder is shared with it.
echo "$$" > "$CONFIG_DIR/.devmode-run.pid"

if "$PY" - "$PORT" <<'EOF'
import socket, sys
with socket.socket() as s:
    sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
then
    echo "develop: something already listens on 127.0.0.1:$PORT (another developer mode?); use --port" >&2
    exit 1
fi

URL="http://127.0.0.1:$PORT"
echo "develop: Home Assistant $("$PY" -c 'from homeassistant.const import __version__; print(__version__)') on Python $("$PY" -c 'import platform; print(platform.python_version())') ($WHERE)"
echo "develop: starting Home Assistant on $URL (config $CONFIG_DIR)"
if [ "$PROXY" = esphome ]; then
    echo "develop: the toys reach it through a simulated ESPHome Bluetooth proxy on 127.0.0.1:$NODE_PORT and Home Assistant's esphome integration"
else
    echo "develop: the toys reach it through the project's own remote scanner (--proxy scanner)"
fi
# Home Assistant runs in its own process group (set -m), so a Ctrl-C in the terminal reaches it
# once, through the trap below: a second SIGINT would make it exit without a clean stop.
# --skip-pip: setup installed every requirement with Home Assistant's constraints; nothing is
# installed at run time. PYTHONPATH holds only a link to bb8sim (see bb8sim/devmode.py).
STOPPING=0
BOOT_PID=""
stop_hass() {
    if [ -n "$BOOT_PID" ]; then kill -TERM "$BOOT_PID" 2>/dev/null || true; fi
    if [ "$STOPPING" = 0 ] && kill -0 "$HASS_PID" 2>/dev/null; then
        STOPPING=1
        echo "develop: stopping Home Assistant (pid $HASS_PID)"
        kill -INT "$HASS_PID" 2>/dev/null || true
    fi
}
set -m
PYTHONPATH="$CONFIG_DIR/.devmode-python" "$HASS" --config "$CONFIG_DIR" --skip-pip &
HASS_PID=$!
trap stop_hass INT TERM HUP
set +m
echo "$HASS_PID" > "$CONFIG_DIR/.devmode-hass.pid"

# `wait` returns early when a trapped signal arrives: keep waiting until the process is gone,
# then return its exit status.
wait_for() {
    local pid="$1" status=0
    while :; do
        wait "$pid" && status=0 || status=$?
        kill -0 "$pid" 2>/dev/null || return "$status"
    done
}

# Onboarding (and --configure) through the REST API, in the background so that a signal is
# handled at once rather than after it.
BOOTSTRAP_ARGS=(--url "$URL" --config "$CONFIG_DIR" --toys "$TOYS" --faults "$FAULTS" --hass-pid "$HASS_PID"
    --proxy "$PROXY" --esphome-port "$NODE_PORT")
[ "$CONFIGURE" = 1 ] && BOOTSTRAP_ARGS+=(--configure)
"$PY" -m bb8sim.devmode bootstrap "${BOOTSTRAP_ARGS[@]}" &
BOOT_PID=$!
FAILED=0
wait_for "$BOOT_PID" || FAILED=1
BOOT_PID=""
if [ "$FAILED" = 1 ] && [ "$STOPPING" = 1 ]; then
    FAILED=0  # interrupted by Ctrl-C, not a failure
elif [ "$FAILED" = 1 ]; then
    echo "develop: Home Assistant did not become usable (log: $CONFIG_DIR/home-assistant.log)" >&2
    stop_hass
fi

status=0
wait_for "$HASS_PID" || status=$?
rm -f "$CONFIG_DIR/.devmode-hass.pid" "$CONFIG_DIR/.devmode-run.pid"
echo "develop: Home Assistant stopped (exit status $status)"
[ "$FAILED" = 0 ] || exit 1
# Home Assistant exits 0 after a clean stop.
exit "$status"
