#!/usr/bin/env bash
# Build the production image (Dockerfile) and check that it runs, on a Debian machine with no
# Docker engine: rootful podman builds and runs it. Run by hand, as root or through sudo (slow,
# not part of `make test`). It installs podman, runc and debootstrap with apt; makes
# debian:bookworm-slim with debootstrap unless podman has it (`podman pull` the real one first to
# use it); builds; runs the bot on 127.0.0.1:$PORT; checks /healthz, /readyz, the HEALTHCHECK, a
# non-root PID 1 and a clean SIGTERM stop; prints the image size; removes container and image.
# podman's storage and the base stay in $SCRATCH for the next run (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-/var/tmp/model-release-bot-image}
PORT=${PORT:-39780}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ "$(id -u)" != 0 ]; then
    exec sudo SCRATCH="$SCRATCH" PORT="$PORT" MIRROR="$MIRROR" "$0" "$@"
fi

BASE=docker.io/library/debian:bookworm-slim
IMAGE=localhost/model-release-bot:check
NAME=model-release-bot-check
# runc, not crun: crun refuses hosts with cgroup v1 and v2 mounted side by side.
podman=(podman --root "$SCRATCH/storage" --runroot "$SCRATCH/run" --runtime runc)
# podman's default ulimits are higher than a host without CAP_SYS_RESOURCE may grant.
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
    "${podman[@]}" rm -f "$NAME" >/dev/null 2>&1 || true
    "${podman[@]}" rmi -f "$IMAGE" >/dev/null 2>&1 || true
    "${podman[@]}" image prune -f >/dev/null 2>&1 || true  # the builder stage
}
trap cleanup EXIT

if ! (command -v podman && command -v runc && command -v debootstrap && command -v curl) >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap curl
fi
mkdir -p "$SCRATCH"

# debian:bookworm-slim from Debian's mirror: minbase, trimmed and configured like the official one.
if ! "${podman[@]}" image exists "$BASE"; then
    root="$SCRATCH/rootfs"
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" "$MIRROR"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/usr/share/{doc,man,info}/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    printf 'path-exclude /usr/share/%s\n' 'doc/*' 'man/*' 'info/*' 'locale/*' \
        >"$root/etc/dpkg/dpkg.cfg.d/docker"
    printf 'path-include /usr/share/%s\n' 'doc/*/copyright' 'locale/locale.alias' \
        >>"$root/etc/dpkg/dpkg.cfg.d/docker"
    echo 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        >"$root/etc/apt/apt.conf.d/docker-clean"
    printf '%s\n' "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
        'deb http://deb.debian.org/debian-security bookworm-security main' >"$root/etc/apt/sources.list"
    tar -C "$root" -c . | "${podman[@]}" import --change 'CMD ["bash"]' - "$BASE"
    rm -rf "$root"
fi

# Docker format: OCI images have no HEALTHCHECK. The host's CA bundle is a build secret for pip
# (needed behind a TLS-inspecting proxy, harmless elsewhere; not stored in the image).
"${podman[@]}" build --pull=never --format docker --network host \
    --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt -t "$IMAGE" .

files=$("${podman[@]}" run --rm "${limits[@]}" --network none --entrypoint ls "$IMAGE" -A /app | xargs)
echo "/app holds: $files"
[ "$files" = "__pycache__ alembic.ini app.py bot data dialogs" ] || fail "unexpected files in /app"

"${podman[@]}" run -d --name "$NAME" "${limits[@]}" -p "127.0.0.1:$PORT:3978" "$IMAGE" >/dev/null
for _ in $(seq 60); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    sleep 1
done
health=$(curl -fsS "http://127.0.0.1:$PORT/healthz") || { "${podman[@]}" logs "$NAME"; fail "/healthz"; }
echo "/healthz: $health"
ready=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")
echo "/readyz: HTTP $ready"
[ "$ready" = 200 ] || fail "/readyz answered $ready"

# Without systemd podman cannot time the periodic checks (it logs "unable to get systemd
# connection"); `healthcheck run` runs the image's HEALTHCHECK once.
"${podman[@]}" healthcheck run "$NAME" || fail "HEALTHCHECK"
echo "health: $("${podman[@]}" inspect -f '{{.State.Health.Status}}' "$NAME")"

uid=$(stat -c %u "/proc/$("${podman[@]}" inspect -f '{{.State.Pid}}' "$NAME")")
echo "PID 1 runs as uid $uid"
[ "$uid" != 0 ] || fail "the bot runs as root"

start=$EPOCHREALTIME
"${podman[@]}" stop -t 10 "$NAME" >/dev/null  # SIGTERM, then SIGKILL after 10 s
seconds=$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $start }")
code=$("${podman[@]}" inspect -f '{{.State.ExitCode}}' "$NAME")
echo "stop: exit code $code after ${seconds}s"
[ "$code" = 0 ] || fail "exit code $code on SIGTERM (137: it was killed)"

bytes=$("${podman[@]}" image inspect -f '{{.Size}}' "$IMAGE")
echo "image size: $((bytes / 1000000)) MB"
echo "OK"
