#!/usr/bin/env bash
# Builds or refreshes a venv with the Home Assistant its users run today:
#   usage _current_env.sh BASE_PYTHON VENV_DIR [--develop]
# (run from the repository root, on the host or inside the Debian forky root).
# "Today's" is the release the newest pytest-homeassistant-custom-component pins, so the current
# test leg and developer mode (--develop, scripts/develop) always run the same Home Assistant.
#
# 1. Asks the registry for pytest-homeassistant-custom-component's releases (pip lists only those
#    whose Requires-Python this interpreter meets) and takes the newest one that installs,
#    trying older ones when the newest's homeassistant does not. BB8_CURRENT_PHACC=X pins one.
#    The test venv installs that release (it brings its homeassistant); a --develop venv
#    installs only the homeassistant it pins (read from its metadata: no pytest in there).
# 2. The test venv: the requirements of the integration's Home Assistant dependencies
#    (bluetooth and what it depends on: the Bluetooth stack, usb's packages) and of esphome (the
#    simulated ESPHome node's tests set it up), read from that release's own manifests, and
#    requirements_current.txt.
#    A --develop venv: the frontend at exactly the release Home Assistant pins, the integration's
#    own requirements (its manifest), and the requirements of every integration developer mode
#    loads (python -m bb8sim.devmode domains), so `hass --skip-pip` needs nothing at run time.
#    Both under that homeassistant's package_constraints.txt: every name at the pinned version.
# A stamp records the inputs; when they and the newest release are unchanged, nothing is
# installed. When the registry cannot be reached, an installed venv is used as it is.
#
# BB8_CURRENT_HA=X (a prototype, in no required leg) installs homeassistant X instead of the one
# the harness pins, for a release the newest harness does not pin yet: the harness goes in with
# --no-deps, its other requirements at Home Assistant X's pins where X pins them
# (scripts/_harness_requirements.py), and _current_checks.sh loads scripts/_harness_compat.py.
# The callers give it a venv of its own, so the leg's usual venv is never touched.
set -euo pipefail

BASE_PY="$1"
VENV_DIR="$2"
DEVELOP=0
case "${3:-}" in
    "") ;;
    --develop) DEVELOP=1 ;;
    *) echo "usage: _current_env.sh BASE_PYTHON VENV_DIR [--develop]" >&2; exit 2 ;;
esac
PHACC=pytest-homeassistant-custom-component
MAX_TRIES=5
STAMP="$VENV_DIR/.bb8-current-stamp"
# A --develop venv has no test harness: this file names the release whose homeassistant it holds.
PHACC_MARK="$VENV_DIR/.bb8-phacc"
HA_OVERRIDE="${BB8_CURRENT_HA:-}"
if [ -n "$HA_OVERRIDE" ] && ! [[ "$HA_OVERRIDE" =~ ^[0-9]{4}\.[0-9]{1,2}\.[0-9]+([a-z]+[0-9]+)?$ ]]; then
    echo "BB8_CURRENT_HA must be a Home Assistant release such as 2026.11.0" >&2
    exit 2
fi

if [ "$DEVELOP" = 1 ]; then
    log() { echo "developer mode setup: $*"; }
    want_inputs="$(cat scripts/_current_env.sh scripts/_ha_requirements.py bb8sim/devmode.py \
        custom_components/bb8/manifest.json | sha256sum | cut -d' ' -f1)-develop"
else
    log() { echo "current leg setup: $*"; }
    want_inputs="$(cat requirements_current.txt scripts/_current_env.sh | sha256sum | cut -d' ' -f1)"
fi
base_version="$("$BASE_PY" -c 'import platform; print(platform.python_version())')"
want_inputs="$want_inputs-py$base_version"
if [ -n "$HA_OVERRIDE" ]; then
    want_inputs="$want_inputs-ha$HA_OVERRIDE-$(sha256sum < scripts/_harness_requirements.py | cut -d' ' -f1)"
    log "homeassistant $HA_OVERRIDE instead of the one the harness pins (BB8_CURRENT_HA)"
fi

venv_ok() {
    [ -x "$VENV_DIR/bin/python" ] && "$VENV_DIR/bin/python" -c 'import sys' >/dev/null 2>&1
}

installed_phacc() {
    venv_ok || return 0
    if [ "$DEVELOP" = 1 ]; then
        cat "$PHACC_MARK" 2>/dev/null || true
    else
        "$VENV_DIR/bin/python" -c "import importlib.metadata as m; print(m.version('$PHACC'))" 2>/dev/null || true
    fi
}

stamp_ok() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_inputs $(installed_phacc)" ]
}

fresh_venv() {
    rm -rf "$VENV_DIR"
    "$BASE_PY" -m venv "$VENV_DIR"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
}

# Newest first, at most MAX_TRIES; pip leaves out releases whose Requires-Python this one fails.
list_candidates() {
    local py="$1"
    "$py" -m pip index versions --disable-pip-version-check "$PHACC" 2>/dev/null | \
        "$py" -c '
import sys
for line in sys.stdin:
    if line.startswith("Available versions:"):
        print("\n".join(v.strip() for v in line.split(":", 1)[1].split(",")[:'"$MAX_TRIES"']))
'
}

installed="$(installed_phacc)"
if [ -n "${BB8_CURRENT_PHACC:-}" ]; then
    candidates="$BB8_CURRENT_PHACC"
    log "using $PHACC $BB8_CURRENT_PHACC (BB8_CURRENT_PHACC)"
else
    venv_ok || fresh_venv  # the venv's pip asks the registry (Debian's python3 has no pip)
    candidates="$(list_candidates "$VENV_DIR/bin/python" || true)"
    if [ -z "$candidates" ]; then
        if [ -n "$installed" ] && stamp_ok; then
            log "the registry did not answer; using the installed $PHACC $installed"
            exit 0
        fi
        log "cannot list $PHACC releases from the package registry (and nothing usable is installed)" >&2
        exit 1
    fi
fi

newest="$(head -1 <<<"$candidates")"
if [ "$installed" = "$newest" ] && stamp_ok; then
    log "up to date ($PHACC $installed is the newest)"
    exit 0
fi

# The homeassistant release $PHACC $1 pins, from its metadata (pip fetches the wheel alone).
pinned_homeassistant() {
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --dry-run --no-deps \
        --ignore-installed --report - "$PHACC==$1" 2>/dev/null | "$VENV_DIR/bin/python" -c '
import json, re, sys
for item in json.load(sys.stdin)["install"]:
    for requirement in item["metadata"].get("requires_dist", []):
        if match := re.fullmatch(r"homeassistant\s*==\s*([^\s;]+)", requirement.strip()):
            print(match.group(1))
'
}

# Installs into a fresh venv what $PHACC $1 stands for: the release itself (the test venv) or
# only the homeassistant it pins (--develop).
install_release() {
    local version="$1" ha
    fresh_venv
    if [ -n "$HA_OVERRIDE" ]; then
        "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "homeassistant==$HA_OVERRIDE" || return 1
        if [ "$DEVELOP" = 0 ]; then
            "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$PHACC==$version"
        else
            echo "$version" > "$PHACC_MARK"
        fi
        return
    fi
    if [ "$DEVELOP" = 0 ]; then
        "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$PHACC==$version"
        return
    fi
    ha="$(pinned_homeassistant "$version")"
    [ -n "$ha" ] || { echo "cannot read the homeassistant that $PHACC $version pins"; return 1; }
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "homeassistant==$ha" && \
        echo "$version" > "$PHACC_MARK"
}

# Releases whose requirements cannot be resolved on this Python, so later runs do not retry them.
UNINSTALLABLE="$VENV_DIR.uninstallable-py$base_version"
pip_log="$(mktemp)"
trap 'rm -f "$pip_log"' EXIT
chosen=""
while read -r version; do
    [ -n "$version" ] || continue
    if [ -z "${BB8_CURRENT_PHACC:-}" ] && grep -qxF "$version" "$UNINSTALLABLE" 2>/dev/null; then
        log "skipping $PHACC $version (it did not resolve on Python $base_version before)"
        continue
    fi
    if [ "$version" = "$installed" ] && stamp_ok; then
        chosen="$version"
        log "keeping the installed $PHACC $version"
        break
    fi
    # A --develop venv whose inputs changed (an edit of bb8sim/devmode.py, say) keeps its
    # homeassistant and gets the rest brought up to date below: seconds, not a new venv.
    if [ "$DEVELOP" = 1 ] && [ "$version" = "$installed" ]; then
        chosen="$version"
        log "keeping the homeassistant $PHACC $version pins; bringing the rest up to date"
        break
    fi
    if [ -n "$HA_OVERRIDE" ]; then
        log "installing homeassistant $HA_OVERRIDE into a fresh venv (not the one $PHACC $version pins)"
    elif [ "$DEVELOP" = 1 ]; then
        log "installing the homeassistant that $PHACC $version pins into a fresh venv"
    else
        log "installing $PHACC==$version and its Home Assistant into a fresh venv (a few minutes)"
    fi
    if install_release "$version" >"$pip_log" 2>&1; then
        chosen="$version"
        break
    fi
    tail -15 "$pip_log" >&2
    # Remembered only when pip says so (not for a network failure).
    if grep -qiE 'ResolutionImpossible|require a different python' "$pip_log"; then
        echo "$version" >> "$UNINSTALLABLE"
    fi
    log "$PHACC $version does not install on Python $base_version; trying the next older release"
done <<<"$candidates"
[ "$chosen" != "$installed" ] || ! stamp_ok || { log "up to date"; exit 0; }
if [ -z "$chosen" ]; then
    rm -rf "$VENV_DIR"
    log "none of these $PHACC releases installs on Python $base_version: $(tr '\n' ' ' <<<"$candidates")" >&2
    exit 1
fi

constraints="$("$VENV_DIR/bin/python" -c 'import homeassistant, pathlib; print(pathlib.Path(homeassistant.__file__).parent / "package_constraints.txt")')"
ha_version="$("$VENV_DIR/bin/python" -c 'from homeassistant.const import __version__; print(__version__)')"
manifest_field() {
    "$VENV_DIR/bin/python" -c '
import json, sys
print("\n".join(json.load(open("custom_components/bb8/manifest.json")).get(sys.argv[1], [])))
' "$1"
}
# bluetooth: the integration's own stack; esphome: Home Assistant's esphome integration, which
# the tests set up against the simulated ESPHome node (bb8sim/esphome/), with what it depends on.
mapfile -t domains < <(echo bluetooth; echo esphome; manifest_field dependencies)
if [ "$DEVELOP" = 1 ]; then
    # Step 1: what importing the integration and bb8sim needs, so that bb8sim.devmode can list
    # the integrations developer mode loads. hassio is there because usb imports it at module
    # level (it is usb's after_dependency, not a dependency, so its manifest does not say so).
    mapfile -t own_requirements < <(manifest_field requirements)
    mapfile -t component_requirements < <("$VENV_DIR/bin/python" scripts/_ha_requirements.py "${domains[@]}" hassio)
    log "installing Home Assistant $ha_version's requirements for ${domains[*]} hassio, and ${own_requirements[*]}"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${component_requirements[@]}" "${own_requirements[@]}" -c "$constraints" "homeassistant==$ha_version"
    # Step 2: the frontend and every integration developer mode loads.
    frontend="$(grep -E '^home-assistant-frontend==' "$constraints")"
    mapfile -t devmode_domains < <("$VENV_DIR/bin/python" -m bb8sim.devmode domains)
    mapfile -t devmode_requirements < <("$VENV_DIR/bin/python" scripts/_ha_requirements.py "${devmode_domains[@]}")
    log "installing $frontend and the requirements of the integrations developer mode loads:"
    log "  ${devmode_requirements[*]}"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$frontend" "${devmode_requirements[@]}" -c "$constraints" "homeassistant==$ha_version"
else
    mapfile -t component_requirements < <("$VENV_DIR/bin/python" scripts/_ha_requirements.py "${domains[@]}")
    log "Home Assistant $ha_version's requirements for ${domains[*]} and their dependencies:"
    log "  ${component_requirements[*]}"
    if [ -n "$HA_OVERRIDE" ]; then
        # The harness is installed already (--no-deps); its own pin of homeassistant stays unmet.
        mapfile -t harness < <("$VENV_DIR/bin/python" scripts/_harness_requirements.py)
        log "the harness's requirements at Home Assistant $ha_version's pins: ${harness[*]}"
        log "(pip then reports the harness's own pins that these replace as conflicts: expected)"
    else
        harness=("$PHACC==$chosen")
    fi
    log "installing them and requirements_current.txt under its package_constraints.txt"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${component_requirements[@]}" -r requirements_current.txt -c "$constraints" \
        "${harness[@]}" "homeassistant==$ha_version"
fi

echo "$want_inputs $chosen" > "$STAMP"
log "done"
