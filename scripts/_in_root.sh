#!/usr/bin/env bash
# Runs a command inside the newest leg's Debian root: usage _in_root.sh ROOT REPO COMMAND...
# The repository is bind-mounted at /bb8 (the command starts there), with /proc, /dev and a
# fresh /dev/shm. scripts/test-newest runs this in a private mount namespace (unshare) when it
# can, so the mounts never appear outside it; the trap unmounts them in any case, on success,
# failure or interruption alike. Exit 97: a mount failed (no permission to mount here).
set -euo pipefail

ROOT="$1"
REPO="$2"
shift 2

mounted=()
cleanup() {
    local status=$? index
    for ((index = ${#mounted[@]} - 1; index >= 0; index--)); do
        umount "${mounted[index]}" 2>/dev/null || umount -l "${mounted[index]}" 2>/dev/null || \
            echo "newest leg: WARNING: could not unmount ${mounted[index]}" >&2
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

# Not exec: the trap must still unmount when the command ends.
chroot "$ROOT" /usr/bin/env -i "${env_args[@]}" /bin/sh -c 'cd /bb8 && exec "$@"' sh "$@"
