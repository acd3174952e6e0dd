#!/usr/bin/env bash
# Builds or refreshes the current leg's venv: usage _current_env.sh BASE_PYTHON VENV_DIR
# (run from the repository root, on the host or inside the Debian forky root).
#
# 1. Asks the registry for pytest-homeassistant-custom-component's releases (pip lists only those
#    whose Requires-Python this interpreter meets) and installs the newest one that installs,
#    trying older ones when the newest's homeassistant does not. BB8_CURRENT_PHACC=X pins one.
# 2. Installs the requirements of the integration's Home Assistant dependencies (bluetooth and
#    what it depends on: the Bluetooth stack, usb's packages), read from that release's own
#    manifests, and requirements_current.txt, all under that homeassistant's
#    package_constraints.txt, so every name comes at the version the release pins.
# A stamp records the inputs; when they and the newest release are unchanged, nothing is
# installed. When the registry cannot be reached, an installed venv is used as it is.
set -euo pipefail

BASE_PY="$1"
VENV_DIR="$2"
PHACC=pytest-homeassistant-custom-component
MAX_TRIES=5
STAMP="$VENV_DIR/.bb8-current-stamp"

log() { echo "current leg setup: $*"; }

want_inputs="$(cat requirements_current.txt scripts/_current_env.sh | sha256sum | cut -d' ' -f1)"
base_version="$("$BASE_PY" -c 'import platform; print(platform.python_version())')"
want_inputs="$want_inputs-py$base_version"

venv_ok() {
    [ -x "$VENV_DIR/bin/python" ] && "$VENV_DIR/bin/python" -c 'import sys' >/dev/null 2>&1
}

installed_phacc() {
    venv_ok || return 0
    "$VENV_DIR/bin/python" -c "import importlib.metadata as m; print(m.version('$PHACC'))" 2>/dev/null || true
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
    log "installing $PHACC==$version and its Home Assistant into a fresh venv (a few minutes)"
    fresh_venv
    if "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$PHACC==$version" \
        >"$pip_log" 2>&1; then
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
mapfile -t domains < <("$VENV_DIR/bin/python" -c '
import json
manifest = json.load(open("custom_components/bb8/manifest.json"))
print("\n".join(["bluetooth", *manifest.get("dependencies", [])]))
')
mapfile -t component_requirements < <("$VENV_DIR/bin/python" scripts/_ha_requirements.py "${domains[@]}")
log "Home Assistant $ha_version's requirements for ${domains[*]} and their dependencies:"
log "  ${component_requirements[*]}"
log "installing them and requirements_current.txt under its package_constraints.txt"
"$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "${component_requirements[@]}" -r requirements_current.txt -c "$constraints" \
    "$PHACC==$chosen" "homeassistant==$ha_version"

echo "$want_inputs $chosen" > "$STAMP"
log "done"
