# shellcheck shell=bash
# Sourced by scripts/test-current and scripts/_develop_env.sh (after _python.sh): a cached Debian
# root that runs the Python today's Home Assistant needs when the host has none. It names the
# root (SUITE, DEBOOTSTRAP_SCRIPT, DEBIAN_MIRROR, ROOT); the caller then calls prepare_root (which
# holds an exclusive lock on fd 9 while it builds; the caller downgrades it to a shared one with
# `flock -s 9` before running, or releases it) and in_root [--bind DIR]... COMMAND... (the
# repository is bind-mounted at /bb8 and the command starts there; see _in_root.sh).
# On failure prepare_root returns 1 with the reason in ROOT_PROBLEM.

# forky ships Python 3.14; debootstrap has no script of its own for it, so sid's serves. The root
# is cached outside the checkout, so fresh clones on the machine (CI's) reuse it.
SUITE="forky"
DEBOOTSTRAP_SCRIPT="sid"
DEBIAN_MIRROR="${BB8_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ROOT="${BB8_CURRENT_ROOT:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/bb8-ha/$SUITE}"
ROOT_PYTHON_MIN="3, 14, 2"
ROOT_PROBLEM=""

# Mount points below DIR in this mount namespace, deepest first.
mounts_below() {
    awk -v dir="$1" '$5 == dir || index($5, dir "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Removes a root directory, but never while anything (such as the repository) is mounted in it.
remove_root_dir() {
    local dir="$1" target
    [ -e "$dir" ] || return 0
    while read -r target; do
        [ -n "$target" ] || continue
        umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
    done < <(mounts_below "$dir")
    if [ -n "$(mounts_below "$dir")" ]; then
        echo "refusing to delete $dir: something is still mounted in it" >&2
        exit 1
    fi
    rm -rf --one-file-system "$dir"
}

in_root() {
    if [ "$USE_UNSHARE" = 1 ]; then
        unshare --mount --propagation private bash "$REPO_ROOT/scripts/_in_root.sh" "$ROOT" "$REPO_ROOT" "$@"
    else
        bash "$REPO_ROOT/scripts/_in_root.sh" "$ROOT" "$REPO_ROOT" "$@"
    fi
}

root_healthy() {
    [ -f "$ROOT/.bb8-root-ok" ] && [ -x "$ROOT/usr/bin/python3" ] && [ -x "$ROOT/usr/bin/gcc" ] && \
        [ -x "$ROOT/usr/bin/git" ] && chroot "$ROOT" /usr/bin/python3 -c \
            "import sys, venv, ensurepip, sysconfig; assert ($ROOT_PYTHON_MIN) <= sys.version_info[:3] < (3, 15)" \
            >/dev/null 2>&1
}

ensure_debootstrap() {
    [ -f "/usr/share/debootstrap/scripts/$DEBOOTSTRAP_SCRIPT" ] && command -v debootstrap >/dev/null 2>&1 && \
        return 0
    command -v apt-get >/dev/null 2>&1 || return 1
    echo "installing debootstrap with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
        >/dev/null 2>&1 || return 1
    [ -f "/usr/share/debootstrap/scripts/$DEBOOTSTRAP_SCRIPT" ]
}

build_root() {
    local partial="$ROOT.partial" log started=$SECONDS
    log="$(dirname "$ROOT")/debootstrap-$SUITE.log"
    remove_root_dir "$partial"
    mkdir -p "$(dirname "$ROOT")"
    echo "building a Debian $SUITE root in $ROOT with debootstrap (about two minutes, once; log: $log)"
    if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-dev,gcc,g++,git,ca-certificates \
        "$SUITE" "$partial" "$DEBIAN_MIRROR" "/usr/share/debootstrap/scripts/$DEBOOTSTRAP_SCRIPT" \
        >"$log" 2>&1; then
        tail -5 "$log" >&2
        remove_root_dir "$partial"
        ROOT_PROBLEM="debootstrap could not build a Debian $SUITE root from $DEBIAN_MIRROR (log: $log)"
        return 1
    fi
    touch "$partial/.bb8-root-ok"
    remove_root_dir "$ROOT"
    mv "$partial" "$ROOT"
    echo "built the Debian $SUITE root in $((SECONDS - started)) s"
}

# Installs Debian packages that a root built before they joined debootstrap's --include lacks
# (g++: developer mode compiles two C++ requirements of assist_pipeline that have no wheel for
# Python 3.14). Call it after prepare_root, while that still holds the exclusive lock.
ensure_root_packages() {
    local missing=() package
    for package in "$@"; do
        chroot "$ROOT" dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || \
            missing+=("$package")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "installing ${missing[*]} into the Debian $SUITE root with apt-get"
    # Check-Valid-Until off: a mirror (or a mirror's snapshot) may serve a Release file older than
    # its Valid-Until date, which debootstrap accepted when it built the root; apt would refuse it.
    in_root env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get -o Acquire::Check-Valid-Until=false update -qq &&
         apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@" >/dev/null' sh "${missing[@]}" || {
        ROOT_PROBLEM="apt-get could not install ${missing[*]} into the Debian $SUITE root"
        return 1
    }
}

prepare_root() {
    if [ "$(id -u)" != 0 ]; then
        ROOT_PROBLEM="the host has no python3.14 >= 3.14.2 and this is not root, so no Debian $SUITE root (chroot) can be built or entered"
        return 1
    fi
    local tool
    for tool in chroot mount umount flock; do
        command -v "$tool" >/dev/null 2>&1 || { ROOT_PROBLEM="the host has no python3.14 >= 3.14.2 and '$tool' is missing"; return 1; }
    done
    USE_UNSHARE=0
    if command -v unshare >/dev/null 2>&1 && unshare --mount --propagation private true 2>/dev/null; then
        USE_UNSHARE=1
    fi
    mkdir -p "$(dirname "$ROOT")"
    # Checkouts on this machine share the root: set up under an exclusive lock, use it under a
    # shared one, so no setup replaces the venv while another run uses it.
    exec 9>"$(dirname "$ROOT")/.$(basename "$ROOT").lock"
    if ! flock -n -x 9; then
        echo "waiting for another run using $ROOT"
        flock -x 9
    fi
    if ! root_healthy; then
        if [ -e "$ROOT" ]; then echo "the cached root $ROOT is missing pieces or broken; rebuilding it"; fi
        ensure_debootstrap || {
            ROOT_PROBLEM="the host has no python3.14 >= 3.14.2, and debootstrap (with its $DEBOOTSTRAP_SCRIPT script) is not installed and could not be installed with apt-get"
            return 1
        }
        build_root || return 1
        root_healthy || { ROOT_PROBLEM="the freshly built Debian $SUITE root has no usable Python >= 3.14.2"; return 1; }
    fi
}
