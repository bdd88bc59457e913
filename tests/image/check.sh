#!/usr/bin/env bash
# `make image-check`: the container image built and run for real, with podman, from the Debian
# mirror only (no image registry needed). Run from `make test` as run.d/80-image.sh.
#
#   1. as root, installs what it needs (podman runc debootstrap docker-compose and the dnsname
#      CNI plugin) and uses
#      tests/image/containers.conf (CONTAINERS_CONF; the system's file is left alone);
#   2. base images debian:12 / debian:12-slim from debootstrap (tests/image/bases.sh, cached in
#      $IMAGE_CACHE, default /var/cache/assetd-images) and a postgres:15 stand-in
#      (tests/image/postgres/) when no postgres:15 image exists;
#   3. builds deploy/Dockerfile from a copy of the tracked tree plus canary files in
#      deploy/secrets/ and .data/, and checks with `podman save` that no layer of the image (nor
#      of its build stage) holds a file of deploy/secrets/ or .data/, by name or by content;
#   4. brings deploy/compose.yaml up for real: docker-compose (Debian's 1.29) against
#      `podman system service`, with a loop that runs the healthchecks (podman runs them from
#      systemd timers, and there is no systemd here); the published port is moved to a free one;
#   5. black-box: the README's curl session and the SDK flow (tests/sdk) against the container;
#      the API container runs as uid 10001 with a read-only root and no capabilities; the worker
#      container runs a restore; `docker-compose stop` (SIGTERM) stops assetd with status 0.
# Where containers cannot run (not root and no podman, no user namespaces, ...) it exits 77 with
# the reason in $TEST_SKIP_FILE (tests/run.sh prints it in its summary) and on stdout.
# Prints each phase's time and the image size.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export CONTAINERS_CONF=$root/tests/image/containers.conf
# Names of this run: two checks at once (two worktrees) must not share containers or tags.
project=assetdcheck$$
tag=check-$$
t0=$SECONDS
phase_t=$SECONDS
phase() { echo "image-check: [$((SECONDS - phase_t))s] $*"; phase_t=$SECONDS; }
skip() {
    echo "image-check: SKIPPED: $*"
    [ -n "${TEST_SKIP_FILE:-}" ] && echo "$*" >"$TEST_SKIP_FILE"
    exit 77
}

# ---- 1. tools ----
# The dnsname CNI plugin lets compose services find each other by name (podman 4.3 on CNI).
need="podman runc debootstrap docker-compose golang-github-containernetworking-plugin-dnsname"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" -eq 0 ] || skip "not root and missing:$missing (apt-get install$missing)"
    command -v apt-get >/dev/null || skip "no apt-get to install$missing"
    echo "image-check: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        skip "apt-get install$missing failed"
fi
[ "$(id -u)" -eq 0 ] || skip "the check runs rootful podman; run it as root"
podman info >/dev/null 2>&1 || skip "podman cannot run here: $(podman info 2>&1 | tail -n 1)"
phase "tools ready ($(podman --version), $(docker-compose --version | cut -d, -f1))"

tmp=$(mktemp -d /var/tmp/assetd-image-check.XXXXXX)
svc_pid=""
health_pid=""
compose() { DOCKER_HOST="unix://$tmp/podman.sock" docker-compose -p "$project" -f "$tmp/deploy/compose.yaml" "$@"; }
cleanup() {
    local rc=$?
    if [ -n "$svc_pid" ]; then
        compose down -v --timeout 5 >/dev/null 2>&1 || true
        kill "$svc_pid" 2>/dev/null || true
    fi
    [ -n "$health_pid" ] && kill "$health_pid" 2>/dev/null
    podman rm -f -t 0 "assetd-check-probe-$$" >/dev/null 2>&1 || true
    podman untag "localhost/assetd:$tag" "localhost/assetd:$tag" >/dev/null 2>&1 || true
    podman untag "localhost/assetd-build:$tag" "localhost/assetd-build:$tag" >/dev/null 2>&1 || true
    # Build cache: keep a day's worth of untagged layers, no more.
    podman image prune -f --filter until=24h >/dev/null 2>&1 || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

# ---- 2. base images ----
tests/image/bases.sh | sed 's/^/image-check: /' || skip "cannot build the debian:12 base images (debootstrap from the apt mirror failed)"
if ! podman run --rm --name "assetd-check-probe-$$" docker.io/library/debian:12-slim true 2>"$tmp/probe.err"; then
    skip "podman cannot run a container here: $(tail -n 1 "$tmp/probe.err")"
fi
# The postgres:15 stand-in builds while the assetd image does (both mostly wait on the mirror).
pg_build=""
if ! podman image exists docker.io/library/postgres:15; then
    podman build -q -t docker.io/library/postgres:15 tests/image/postgres >"$tmp/pg-build.log" 2>&1 &
    pg_build=$!
fi
phase "base images: debian:12, debian:12-slim"

# ---- 3. the image, built from a copy of the tree with canaries in the ignored places ----
mkdir -p "$tmp/ctx"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/ctx" 2>/dev/null || true
cp .dockerignore "$tmp/ctx/" 2>/dev/null || true
canary="assetd-canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$tmp/ctx/deploy/secrets" "$tmp/ctx/.data"
for f in deploy/secrets/master_key deploy/secrets/admin_token .data/master_key .data/canary; do
    echo "$canary" >"$tmp/ctx/$f"
done
podman build -q --layers -f deploy/Dockerfile -t "localhost/assetd:$tag" "$tmp/ctx" >"$tmp/build.log" 2>&1 ||
    { tail -n 40 "$tmp/build.log"; echo "image-check: FAILED: podman build"; exit 1; }
podman build -q --layers --target build -f deploy/Dockerfile -t "localhost/assetd-build:$tag" "$tmp/ctx" >>"$tmp/build.log" 2>&1 ||
    { tail -n 40 "$tmp/build.log"; echo "image-check: FAILED: podman build --target build"; exit 1; }
size=$(podman image inspect --format '{{.Size}}' "localhost/assetd:$tag")
if [ -n "$pg_build" ] && ! wait "$pg_build"; then
    tail -n 30 "$tmp/pg-build.log"; echo "image-check: FAILED: the postgres:15 stand-in did not build"; exit 1
fi
phase "built deploy/Dockerfile: localhost/assetd:$tag, $((size / 1000000)) MB (and postgres:15)"

fail() { echo "image-check: FAILED: $*"; exit 1; }
user=$(podman image inspect --format '{{.Config.User}}' "localhost/assetd:$tag")
[ "$user" = "10001:10001" ] || fail "the image's USER is '$user', not 10001:10001"
# docker-archive layers are plain tars: names from their listings, contents by one grep.
for img in assetd assetd-build; do
    podman save -q --format docker-archive -o "$tmp/$img.tar" "localhost/$img:$tag"
    mkdir -p "$tmp/save-$img"
    tar -xf "$tmp/$img.tar" -C "$tmp/save-$img"
    while IFS= read -r -d '' layer; do
        if tar -tf "$layer" | grep -E '(^|/)(deploy/secrets|\.data)(/|$)'; then
            fail "a layer of $img holds files of deploy/secrets/ or .data/ (above)"
        fi
    done < <(find "$tmp/save-$img" -name '*.tar' -print0)
    if grep -rlaF "$canary" "$tmp/save-$img" >/dev/null; then
        fail "a layer of $img holds the content of a canary file of deploy/secrets/ or .data/"
    fi
    layers=$(podman image inspect --format '{{len .RootFS.Layers}}' "localhost/$img:$tag")
    echo "image-check: $img image: none of its $layers layers holds deploy/secrets/ or .data/ (by name or content)"
    rm -rf "$tmp/save-$img" "$tmp/$img.tar"
done
phase "layers checked"

# ---- 4. compose, for real ----
mkdir -p "$tmp/deploy"
port=""
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    if ! ss -tanH "sport = :$p" 2>/dev/null | grep -q .; then port=$p; break; fi
done
[ -n "$port" ] || fail "no free port"
# The same compose.yaml, its published port moved to 127.0.0.1:<free port> (8080 may be taken).
sed "s/- \"8080:8080\"/- \"127.0.0.1:$port:8080\"/" deploy/compose.yaml >"$tmp/deploy/compose.yaml"
grep -q "127.0.0.1:$port:8080" "$tmp/deploy/compose.yaml" || fail "compose.yaml no longer publishes \"8080:8080\""
cp deploy/secrets-init.sh "$tmp/deploy/"
"$tmp/deploy/secrets-init.sh" >/dev/null
podman tag "localhost/assetd:$tag" docker.io/library/assetd:local localhost/assetd:local
podman system service --time=0 "unix://$tmp/podman.sock" >"$tmp/service.log" 2>&1 &
svc_pid=$!
for _ in $(seq 1 100); do [ -S "$tmp/podman.sock" ] && break; sleep 0.1; done
# Healthchecks: podman runs them from systemd timers; without systemd, this loop does.
(
    while :; do
        for c in $(podman ps -q --filter "label=com.docker.compose.project=$project" 2>/dev/null); do
            podman healthcheck run "$c" >/dev/null 2>&1 || true
        done
        sleep 1
    done
) &
health_pid=$!
# docker-compose 1.29 against podman's service now and then loses a race with a container that
# has just exited (the migrate service): "read /proc/N/cgroup: no such process". Bringing the
# project up is idempotent: then once more, and only a second failure fails.
if ! compose up -d --no-build >"$tmp/compose.log" 2>&1; then
    if ! grep -q "no such process" "$tmp/compose.log" ||
        ! compose up -d --no-build >>"$tmp/compose.log" 2>&1; then
        cat "$tmp/compose.log"
        compose logs --tail 30
        fail "docker-compose up"
    fi
fi
url="http://127.0.0.1:$port"
ok=""
for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" 2>/dev/null)" = 200 ] && { ok=1; break; }
    sleep 0.1
done
[ -n "$ok" ] || { compose ps; compose logs --tail 30; fail "the compose deployment never answered GET /readyz 200"; }
migrate_exit=$(podman inspect --format '{{.State.ExitCode}}' "${project}_migrate_1")
[ "$migrate_exit" = 0 ] || fail "the migrate service exited $migrate_exit"
phase "docker-compose up: postgres healthy -> migrate exited 0 -> assetd ready on $url, worker up"

# ---- 5. black box ----
api=${project}_assetd_1
[ "$(podman exec "$api" id -u)" = 10001 ] || fail "the API container does not run as uid 10001"
grep -q '^CapEff:[[:space:]]*0000000000000000$' <(podman exec "$api" cat /proc/1/status) ||
    fail "the API container's process has capabilities"
podman exec "$api" sh -c 'touch /usr/local/bin/x' 2>/dev/null && fail "the root filesystem is writable"
[ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$api")" = true ] || fail "ReadonlyRootfs is not set"
A=$(cat "$tmp/deploy/secrets/admin_token")
dev=$(curl -fs -X POST "$url/devices" -H "Authorization: Bearer $A" -d '{"name":"phone","accountId":"alice"}')
dev_id=$(echo "$dev" | sed 's/.*"id":"\([^"]*\)".*/\1/')
app=$(curl -fs -X POST "$url/devices/$dev_id/apps" -H "Authorization: Bearer $A" -d '{"appId":"com.example.notes"}')
T=$(echo "$app" | sed 's/.*"token":"\([^"]*\)".*/\1/')
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/assets" -H "Authorization: Bearer $T" \
    -d '{"secret":"ZGVtb19wd2Q=","alias":"demo_alias","dataLabelNormal1":"demo_label","syncType":["TRUSTED_DEVICE"]}')
[ "$code" = 201 ] || fail "POST /assets answered $code"
curl -fs "$url/assets?alias=demo_alias" -H "Authorization: Bearer $T" | grep -q demo_label || fail "GET /assets?alias="
curl -fs "$url/assets/demo_alias?returnType=ALL" -H "Authorization: Bearer $T" | grep -q '"secret":"ZGVtb19wd2Q="' ||
    fail "GET /assets/demo_alias?returnType=ALL did not return the secret"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$url/assets/demo_alias" -H "Authorization: Bearer $T" -d '{"dataLabelNormal1":"new_label"}')
[ "$code" = 200 ] || fail "PATCH answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url/assets/demo_alias" -H "Authorization: Bearer $T")
[ "$code" = 204 ] || fail "DELETE answered $code"
curl -fs "$url/openapi.yaml" | cmp -s - openapi.yaml || fail "GET /openapi.yaml differs from openapi.yaml"
phase "README curl session against the container: add, query, get with secret, update, remove; /openapi.yaml"

SDK_SERVER_URL=$url ASSETD_ADMIN_TOKEN=$A TEST_RESPONSE_LOG="" bash tests/sdk/run-flow.sh >"$tmp/sdk.log" 2>&1 ||
    { tail -n 60 "$tmp/sdk.log"; fail "the SDK flow against the container"; }
summary=$(grep -aE '^[^ ]+ (tests|pass|fail) [0-9]+' "$tmp/sdk.log" | sed 's/^[^ ]* //' | tr '\n' ' ' || true)
echo "image-check: SDK flow: ${summary:-see tests/sdk}"
phase "SDK flow (tests/sdk) against the container"

compose stop -t 30 assetd >/dev/null 2>&1
st=$(podman inspect --format '{{.State.ExitCode}}' "$api")
[ "$st" = 0 ] || { podman logs --tail 20 "$api"; fail "assetd exited $st on SIGTERM (not 0)"; }
podman logs "$api" 2>&1 | grep -q '"msg":"shutting down","signal":15' || fail "assetd did not log its SIGTERM shutdown"
phase "docker-compose stop: SIGTERM, assetd exited 0"
compose down -v --timeout 10 >/dev/null 2>&1
echo "image-check: passed in $((SECONDS - t0))s; image localhost/assetd:$tag is $((size / 1000000)) MB"
