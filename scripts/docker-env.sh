#!/usr/bin/env bash
# Makes a real Docker engine, a local registry and a busybox test image available for the Docker
# tests (label "docker"), on a fresh Debian 12 machine or container:
#   - installs docker.io, docker-registry, busybox-static and iptables when missing;
#   - starts dockerd (vfs storage, logging to /var/log/berth-dockerd.log) when
#     /var/run/docker.sock does not answer; falls back to --iptables=false only when iptables
#     cannot be used here (published ports then go through docker-proxy);
#   - starts Debian's registry on 127.0.0.1:5000 (state in /var/lib/berth-test-registry) when it
#     does not answer;
#   - builds 127.0.0.1:5000/berth/busybox:latest from busybox-static and pushes it, unless the
#     registry already has it.
# Idempotent: when everything is up it changes nothing and prints one line. Needs root (or sudo).
#   BERTH_DOCKERD_FLAGS="--bip=10.200.0.1/24" scripts/docker-env.sh   # extra dockerd flags
set -euo pipefail

SOCKET=/var/run/docker.sock
DOCKERD_LOG=${BERTH_DOCKERD_LOG:-/var/log/berth-dockerd.log}
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_DIR=/var/lib/berth-test-registry
REGISTRY_LOG=${BERTH_REGISTRY_LOG:-/var/log/berth-test-registry.log}
IMAGE_REPO=berth/busybox
IMAGE=$REGISTRY_ADDR/$IMAGE_REPO:latest
WAIT_SECONDS=60

PACKAGES=(docker.io docker-registry busybox-static iptables curl ca-certificates)

die() {
  echo "docker-env: error: $*" >&2
  exit 1
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- packages -----------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "docker-env: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's client and daemon, not a client-only docker that may sit earlier on PATH.
DOCKERD=/usr/sbin/dockerd
DOCKER=/usr/bin/docker
REGISTRY_BIN=/usr/bin/docker-registry
BUSYBOX=/bin/busybox
for f in "$DOCKERD" "$DOCKER" "$REGISTRY_BIN" "$BUSYBOX"; do
  [ -x "$f" ] || die "$f is missing after installing ${PACKAGES[*]}"
done

# --- dockerd ------------------------------------------------------------------------------------
docker_answers() {
  curl -sf --max-time 5 --unix-socket "$SOCKET" http://localhost/_ping >/dev/null 2>&1
}

# Waits until dockerd answers; false when it does not within WAIT_SECONDS or when process $1
# (when given) exits first.
wait_for_docker() {
  local pid=${1:-} i
  for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    docker_answers && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.5
  done
  return 1
}

# The pid of a live dockerd named by its pid file (a killed one leaves the file behind).
dockerd_running_pid() {
  local pid state
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ] || return 0
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  if [ -n "$state" ] && [ "$state" != Z ]; then echo "$pid"; fi
}

# What the last dockerd started by this script logged (each start writes a "=== " line first).
last_dockerd_log() {
  awk '/^=== /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$DOCKERD_LOG" 2>/dev/null || true
}

# Starts dockerd with the given flags; true when it answers. On failure it is stopped again.
start_dockerd() {
  local pid
  echo "docker-env: starting $DOCKERD $* (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  echo "=== $(date -u +%FT%TZ) $DOCKERD $*" >>"$DOCKERD_LOG"
  # setsid + nohup: the daemon outlives this script and the shell that ran it.
  $SUDO setsid nohup "$DOCKERD" "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  # The pid is the daemon's own: setsid execs it when it is not a process-group leader.
  pid=$!
  if wait_for_docker "$pid"; then
    DOCKERD_FLAGS_USED="$*"
    return 0
  fi
  if kill -0 "$pid" 2>/dev/null; then
    $SUDO kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  return 1
}

DOCKERD_STATE="already running"
DOCKERD_FLAGS_USED=""
if ! docker_answers; then
  existing=$(dockerd_running_pid)
  if [ -n "$existing" ]; then
    # A dockerd is still starting (or hung): give it the same time as a fresh one.
    echo "docker-env: dockerd (pid $existing) is running but not answering yet; waiting"
    if wait_for_docker "$existing"; then
      DOCKERD_STATE="was starting"
    elif kill -0 "$existing" 2>/dev/null; then
      die "dockerd (pid $existing) does not answer on $SOCKET after ${WAIT_SECONDS}s; see $DOCKERD_LOG"
    else
      echo "docker-env: dockerd (pid $existing) exited"
    fi
  fi
  if ! docker_answers; then
    # vfs: works on any backing filesystem (overlay2 fails on overlayfs roots, common in
    # sandboxes); the busybox image is small, so the copies cost nothing.
    base_flags=(--storage-driver=vfs --host="unix://$SOCKET")
    # shellcheck disable=SC2206 # word splitting of the extra flags is intended
    extra_flags=(${BERTH_DOCKERD_FLAGS:-})
    if start_dockerd "${base_flags[@]}" "${extra_flags[@]}"; then
      DOCKERD_STATE="started"
    elif last_dockerd_log | grep -qi 'iptables'; then
      # No usable iptables (no NET_ADMIN in the netns, no nf_tables/ip_tables in the kernel).
      # Without it dockerd sets up no NAT: a published port is served by docker-proxy, which
      # still makes 127.0.0.1:<hostport> reach the container; containers have no outbound NAT.
      echo "docker-env: dockerd failed on iptables; retrying with --iptables=false --ip-masq=false"
      start_dockerd "${base_flags[@]}" --iptables=false --ip-masq=false "${extra_flags[@]}" ||
        die "dockerd did not start even with --iptables=false; last lines of $DOCKERD_LOG:
$(last_dockerd_log | tail -n 15)"
      DOCKERD_STATE="started without iptables"
    else
      die "dockerd did not answer on $SOCKET within ${WAIT_SECONDS}s; last lines of $DOCKERD_LOG:
$(last_dockerd_log | tail -n 15)"
    fi
  fi
fi

# --- registry -----------------------------------------------------------------------------------
registry_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$REGISTRY_ADDR/v2/" 2>/dev/null || true
}

REGISTRY_STATE="already running"
code=$(registry_status)
if [ "$code" != 200 ]; then
  if [ "$code" != 000 ]; then
    die "something on $REGISTRY_ADDR answers /v2/ with HTTP $code (an authenticating registry such as \
Debian's docker-registry.service?); stop it, or free port ${REGISTRY_ADDR##*:}"
  fi
  $SUDO mkdir -p "$REGISTRY_DIR/data"
  # No auth, loopback only: Docker trusts 127.0.0.0/8 registries over plain HTTP by default.
  $SUDO tee "$REGISTRY_DIR/config.yml" >/dev/null <<EOF
# Written by scripts/docker-env.sh: the local registry of Berth's Docker tests.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  echo "docker-env: starting $REGISTRY_BIN serve $REGISTRY_DIR/config.yml (log: $REGISTRY_LOG)"
  mkdir -p "$(dirname "$REGISTRY_LOG")"
  $SUDO setsid nohup "$REGISTRY_BIN" serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_LOG" 2>&1 </dev/null &
  registry_pid=$!
  for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
    [ "$(registry_status)" = 200 ] && break
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.5
  done
  [ "$(registry_status)" = 200 ] || die "the registry did not answer on $REGISTRY_ADDR; last lines of $REGISTRY_LOG:
$(tail -n 15 "$REGISTRY_LOG")"
  REGISTRY_STATE="started"
fi

# --- the busybox image --------------------------------------------------------------------------
IMAGE_STATE="already in the registry"
if ! curl -sf --max-time 5 "http://$REGISTRY_ADDR/v2/$IMAGE_REPO/tags/list" | grep -q '"latest"'; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  root=$work/rootfs
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,www,var/log,proc,sys,dev}
  install -d -m 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  # One symlink per applet, at the path busybox itself names (bin/sh, usr/bin/wget, ...).
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    ln -sf /bin/busybox "$root/$applet"
  done < <("$BUSYBOX" --list-full)
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
  echo "berth busybox" >"$root/www/index.html"
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$root" -cf "$work/rootfs.tar" .
  echo "docker-env: importing and pushing $IMAGE"
  $SUDO "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    "$work/rootfs.tar" "$IMAGE" >/dev/null || die "docker import of $IMAGE failed"
  $SUDO "$DOCKER" push "$IMAGE" >/dev/null || die "docker push of $IMAGE to $REGISTRY_ADDR failed"
  curl -sf --max-time 5 "http://$REGISTRY_ADDR/v2/$IMAGE_REPO/tags/list" | grep -q '"latest"' ||
    die "$IMAGE was pushed but the registry does not list it"
  IMAGE_STATE="built and pushed"
fi

server_version=$(curl -sf --max-time 5 --unix-socket "$SOCKET" http://localhost/version |
  sed -n 's/.*"Version":"\([^"]*\)".*"ApiVersion":"\([^"]*\)".*/\1 (API \2)/p' || true)
echo "docker-env: dockerd ${server_version:-?} on $SOCKET ${DOCKERD_STATE}${DOCKERD_FLAGS_USED:+ [$DOCKERD_FLAGS_USED]}; \
registry $REGISTRY_ADDR $REGISTRY_STATE; $IMAGE $IMAGE_STATE"
