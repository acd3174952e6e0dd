# shellcheck shell=bash
# Sourced by scripts/develop and scripts/screenshot (after _python.sh): where developer mode runs,
# and setting that up. The choice is the test legs':
# * current (the default): the Home Assistant the current test leg runs, i.e. the release the
#   newest pytest-homeassistant-custom-component pins (found at run time by _current_env.sh), on
#   the same Python: the host's python3.14 if it is 3.14.2 or newer (venv .venv-develop-current),
#   else the Debian forky root the current leg uses (~/.cache/bb8-ha/forky, built when missing),
#   with a venv of its own there (/opt/bb8-develop-venv), so the test leg's /opt/bb8-venv is never
#   touched. BB8_CURRENT_MODE=host|root forces one of the two, as for the test leg.
# * floor: Home Assistant 2025.4.4 in .venv (scripts/setup --frontend).
# Where the current release cannot run (no python3.14 and no root to build or enter a Debian root
# with), the default falls back to the floor and says why; an explicit `--ha current` fails.
#
# develop_env_setup REQUESTED (current|floor|auto) sets DEV_HA (current|floor), DEV_WHERE (host|
# root|floor: how develop_env_run runs a command), DEV_PY (the venv's python, as the command sees
# it) and DEV_WHERE_TEXT (in words, for the log). develop_env_run [--bind DIR]... COMMAND... runs
# COMMAND there; --bind is for the root (a folder outside the repository the command must see).

source "$REPO_ROOT/scripts/_debian_root.sh"
DEV_ROOT_VENV="/opt/bb8-develop-venv"
DEV_HOST_VENV="${BB8_DEVELOP_VENV:-$REPO_ROOT/.venv-develop-current}"
# BB8_CURRENT_HA=X: Home Assistant X instead of the release the newest harness pins (a prototype;
# see _current_env.sh), in venvs of its own.
if [ -n "${BB8_CURRENT_HA:-}" ]; then
    [[ "$BB8_CURRENT_HA" =~ ^[0-9]{4}\.[0-9]{1,2}\.[0-9]+([a-z]+[0-9]+)?$ ]] || {
        echo "BB8_CURRENT_HA must be a Home Assistant release such as 2026.11.0" >&2
        exit 2
    }
    DEV_ROOT_VENV="/opt/bb8-develop-venv-ha$BB8_CURRENT_HA"
    DEV_HOST_VENV="${BB8_DEVELOP_VENV:-$REPO_ROOT/.venv-develop-current-ha$BB8_CURRENT_HA}"
fi

dev_log() { echo "develop: $*"; }

develop_env_floor() {
    DEV_HA=floor
    DEV_WHERE=floor
    bash "$REPO_ROOT/scripts/setup" --frontend
    DEV_PY="$VENV/bin/python"
    DEV_WHERE_TEXT="the floor, in .venv"
}

develop_env_host() {
    local py="$1"
    DEV_HA=current
    DEV_WHERE=host
    bash "$REPO_ROOT/scripts/_current_env.sh" "$py" "$DEV_HOST_VENV" --develop
    DEV_PY="$DEV_HOST_VENV/bin/python"
    DEV_WHERE_TEXT="the current release, with the host's $py, in $(basename "$DEV_HOST_VENV")"
}

# Returns 1 with the reason in ROOT_PROBLEM where this machine cannot have the Debian root; exits
# on any other failure (a failed install is not a reason to run something else).
develop_env_root() {
    local status=0
    prepare_root || { flock -u 9 2>/dev/null || true; return 1; }
    ensure_root_packages g++ || { dev_log "$ROOT_PROBLEM" >&2; exit 1; }
    in_root bash scripts/_current_env.sh /usr/bin/python3 "$DEV_ROOT_VENV" --develop || status=$?
    # Released while Home Assistant runs: the test leg takes the lock to set up its own venv,
    # and must not wait for a developer mode that runs for hours. Nothing here is changed.
    flock -u 9
    if [ "$status" = 97 ]; then
        ROOT_PROBLEM="cannot mount /proc, /dev and the repository into the Debian root here (no permission to mount)"
        return 1
    elif [ "$status" != 0 ]; then
        dev_log "setting up $DEV_ROOT_VENV in the Debian $SUITE root failed" >&2
        exit "$status"
    fi
    DEV_HA=current
    DEV_WHERE=root
    DEV_PY="$DEV_ROOT_VENV/bin/python"
    DEV_WHERE_TEXT="the current release, in the Debian $SUITE root $ROOT, $DEV_ROOT_VENV"
}

develop_env_setup() {
    local requested="$1" mode="${BB8_CURRENT_MODE:-auto}" host_py=""
    if [ "$requested" = floor ]; then
        develop_env_floor
        return
    fi
    case "$mode" in
        auto | host | root) ;;
        *) dev_log "BB8_CURRENT_MODE must be auto, host or root" >&2; exit 2 ;;
    esac
    if [ "$mode" != root ] && host_py="$(find_python314)"; then
        develop_env_host "$host_py"
        return
    fi
    if [ "$mode" = host ]; then
        dev_log "no python3.14 >= 3.14.2 on this host (BB8_CURRENT_MODE=host)" >&2
        exit 1
    fi
    [ "$mode" = root ] || dev_log "no python3.14 >= 3.14.2 on this host; the current release runs in a Debian $SUITE root"
    develop_env_root && return
    if [ "$requested" = current ]; then
        dev_log "cannot run the current Home Assistant here: $ROOT_PROBLEM" >&2
        exit 1
    fi
    dev_log "cannot run the current Home Assistant here: $ROOT_PROBLEM"
    dev_log "running the floor, Home Assistant 2025.4.4, instead (--ha floor chooses it without this note)"
    develop_env_floor
}

develop_env_run() {
    if [ "$DEV_WHERE" = root ]; then
        in_root "$@"
        return
    fi
    while [ "${1:-}" = --bind ]; do shift 2; done
    "$@"
}
