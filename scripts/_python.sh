# shellcheck shell=bash
# Sourced by the scripts: finds the Python interpreters the legs use and names the repository paths.
# pyenv installs often have python3.13 without it being the global version, so look there too.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BB8_VENV:-$REPO_ROOT/.venv}"

find_python313() {
    local candidate
    for candidate in "${PYTHON313:-}" python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13 \
        "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 && \
            "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    # A pyenv shim answers only when its version is selected.
    if command -v pyenv >/dev/null 2>&1; then
        local version
        version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | sort -V | tail -1)"
        if [ -n "$version" ]; then
            echo "$(pyenv root)/versions/$version/bin/python3.13"
            return 0
        fi
    fi
    return 1
}

# A Python 3.14 at patch level 2 or newer (Home Assistant 2026.3 and later need >= 3.14.2), if the
# host has one; the current leg and developer mode use a Debian root when it does not.
find_python314() {
    local candidate
    for candidate in "${PYTHON314:-}" python3.14 /usr/bin/python3.14 /usr/local/bin/python3.14 \
        "${HOME:-/nonexistent}"/.pyenv/versions/3.14*/bin/python3.14; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 && \
            "$candidate" -c 'import sys; assert (3, 14, 2) <= sys.version_info[:3] < (3, 15)' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}
