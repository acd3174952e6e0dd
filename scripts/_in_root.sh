#!/usr/bin/env bash
# Runs a command inside the current leg's Debian root:
#   usage _in_root.sh ROOT REPO [--bind DIR]... COMMAND...
# The repository is bind-mounted at /bb8 (the command starts there), with /proc, /dev and a
# fresh /dev/shm. Each --bind DIR (an absolute path) is bind-mounted at the same path inside the
# root, so a folder outside the repository (developer mode's config folder) is the same folder
# on both sides; the mount point is made, and removed again, only where the root has none.
# scripts/test-current and scripts/develop run this in a private mount namespace (unshare) when
# they can, so the mounts never appear outside it; the trap unmounts them in any case, on
# success, failure or interruption alike. Exit 97: a mount failed (no permission to mount here).
# The exit status is the command's: a Ctrl-C reaches the command too (same process group), and
# the command decides how it ends (developer mode stops Home Assistant cleanly and exits 0).
set -euo pipefail

ROOT="$1"
REPO="$2"
shift 2
binds=()
while [ "${1:-}" = --bind ]; do
    [[ "${2:-}" == /* ]] || { echo "_in_root.sh: --bind needs an absolute path" >&2; exit 2; }
    binds+=("$2")
    shift 2
done

mounted=()
made=()  # mount points made for --bind, removed again after the unmount
cleanup() {
    local status=$? index
    for ((index = ${#mounted[@]} - 1; index >= 0; index--)); do
        umount "${mounted[index]}" 2>/dev/null || umount -l "${mounted[index]}" 2>/dev/null || \
            echo "Debian root: WARNING: could not unmount ${mounted[index]}" >&2
    done
    for ((index = ${#made[@]} - 1; index >= 0; index--)); do
        rmdir "${made[index]}" 2>/dev/null || true
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

bind() {
    local source="$1" target="$2"
    mkdir -p "$target"
    mount --bind "$source" "$target" || exit 97
    mounted+=("$target")
    # Private, so nothing mounted below the bind propagates back to the source.
    mount --make-private "$target" || exit 97
}

bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev"
mkdir -p "$ROOT/dev/shm"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$ROOT/dev/shm" || exit 97
mounted+=("$ROOT/dev/shm")
bind "$REPO" "$ROOT/bb8"
for dir in "${binds[@]}"; do
    target="$ROOT$dir"
    if [ -e "$target" ] && { [ ! -d "$target" ] || [ -n "$(ls -A "$target")" ]; }; then
        echo "_in_root.sh: $dir exists inside the Debian root ($target); not hiding it with a bind mount" >&2
        exit 2
    fi
    # Record each mount point folder this makes (outermost first), to remove it afterwards.
    missing="$target"
    new_dirs=()
    while [ ! -e "$missing" ]; do
        new_dirs=("$missing" "${new_dirs[@]}")
        missing="$(dirname "$missing")"
    done
    mkdir -p "$target"
    made+=("${new_dirs[@]}")
    bind "$dir" "$target"
done

# Name resolution and the host's CA bundle (pip inside the root trusts what the host trusts,
# e.g. a proxy's CA); refreshed on every run because the host's may change.
cp --remove-destination /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
cp --remove-destination /etc/hosts "$ROOT/etc/hosts" 2>/dev/null || true
host_ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
env_args=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
    PYTHONDONTWRITEBYTECODE=1)
if [ -f "$host_ca" ]; then
    cp "$host_ca" "$ROOT/etc/bb8-host-ca.crt"
    env_args+=(PIP_CERT=/etc/bb8-host-ca.crt)
fi
# Pass on what matters to pip and pytest; the host's pip configuration (local paths) stays out.
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy CI TERM PYTEST_ADDOPTS \
    PIP_INDEX_URL PIP_EXTRA_INDEX_URL; do
    value="${!name:-}"
    [ -n "$value" ] || continue
    case "$name" in PIP_*) [[ "$value" == http* ]] || continue ;; esac
    env_args+=("$name=$value")
done
while IFS='=' read -r name _; do
    env_args+=("$name=${!name}")
done < <(env | grep -E '^BB8_[A-Z0-9_]*=' || true)

# Not exec: the trap must still unmount when the command ends. A signal that arrives while it
# runs reached the command too (same process group, or forwarded by the caller): this script
# waits for the command and ends with its status rather than its own.
trap : INT TERM HUP
chroot "$ROOT" /usr/bin/env -i "${env_args[@]}" /bin/sh -c 'cd /bb8 && exec "$@"' sh "$@"
