#!/usr/bin/env bash
# The current leg's checks, run with that leg's Python (on the host or inside the Debian root):
# usage _current_checks.sh PYTHON [pytest arguments...]. mypy --strict runs here as well as on the
# floor leg because Home Assistant's own types move between releases.
set -euo pipefail
PY="$1"
shift
echo "== mypy (strict, custom_components/, current leg)"
"$PY" -m mypy --python-version "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
compat=()
if [ -n "${BB8_CURRENT_HA:-}" ]; then
    # Home Assistant BB8_CURRENT_HA beside a harness built for an older release (_current_env.sh).
    compat=(-p scripts._harness_compat)
    echo "== pytest runs homeassistant $BB8_CURRENT_HA with a harness that pins another release (BB8_CURRENT_HA)"
fi
echo "== pytest (current leg: $("$PY" scripts/_versions.py))"
"$PY" -m pytest -p no:cacheprovider "${compat[@]}" -q -m "not e2e" "$@"
