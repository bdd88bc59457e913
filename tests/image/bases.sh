#!/usr/bin/env bash
# Local base images for `make image-check`, built from the Debian mirror this machine's apt
# already uses (no image registry needed):
#   docker.io/library/debian:12       debootstrap --variant=minbase bookworm, with the apt settings
#                                      of the official images (no .deb or package cache is kept
#                                      in a layer after apt-get install)
#   docker.io/library/debian:12-slim  the same without docs, man pages and locales (and dpkg
#                                      told not to install them again, as the real slim image)
# The root file systems are cached as tarballs in $IMAGE_CACHE (default
# /var/cache/assetd-images), so later runs only `podman import` them (or nothing at all when the
# images still exist). The mirror URL is read at run time from /etc/apt/sources.list.d/*.sources
# or /etc/apt/sources.list; it is never written into the repository.
# Usage: tests/image/bases.sh   (as root; prints what it did)
set -euo pipefail
cache=${IMAGE_CACHE:-/var/cache/assetd-images}
suite=bookworm
version=2 # of what this script puts in the images: a new one rebuilds and re-imports them
mkdir -p "$cache"

# The first mirror that serves $suite (not -updates/-security), from deb822 or one-line sources.
apt_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '
            /^[ \t]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
            END { if (uri != "" && ok) print uri }' "$f" | head -n 1
    done
    if [ -f /etc/apt/sources.list ]; then
        awk -v s="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i == s && $(i-1) ~ /^[a-z]+:\/\//) { print $(i-1); exit } }' /etc/apt/sources.list
    fi
}

mirror=$(apt_mirror | head -n 1)
[ -n "$mirror" ] || { echo "bases: no Debian $suite mirror found in the apt configuration" >&2; exit 1; }

minbase=$cache/debian12-minbase-v$version.tar
slim=$cache/debian12-slim-v$version.tar
for old in "$cache"/debian12-*.tar; do # what earlier versions of this script left
    [ "$old" = "$minbase" ] || [ "$old" = "$slim" ] || [ ! -e "$old" ] || rm -f "$old"
done
if [ ! -s "$minbase" ] || [ ! -s "$slim" ]; then
    root=$(mktemp -d /var/tmp/assetd-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "bases: debootstrap --variant=minbase $suite (mirror from the apt configuration)"
    debootstrap --variant=minbase "$suite" "$root/fs" "$mirror" >"$root/debootstrap.log" 2>&1 ||
        { tail -n 30 "$root/debootstrap.log" >&2; exit 1; }
    # What the official images do too: no package caches or logs in the layer.
    rm -rf "$root"/fs/var/cache/apt/archives/*.deb "$root"/fs/var/cache/apt/*.bin \
        "$root"/fs/var/lib/apt/lists/* "$root"/fs/var/log/*.log
    cat >"$root/fs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
    echo 'Acquire::Languages "none";' >"$root/fs/etc/apt/apt.conf.d/docker-no-languages"
    tar --numeric-owner -C "$root/fs" -cf "$minbase.tmp" . && mv "$minbase.tmp" "$minbase"
    rm -rf "$root"/fs/usr/share/doc/* "$root"/fs/usr/share/man/* "$root"/fs/usr/share/info/* \
        "$root"/fs/usr/share/locale/* "$root"/fs/usr/share/lintian/*
    mkdir -p "$root/fs/etc/dpkg/dpkg.cfg.d"
    cat >"$root/fs/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
    tar --numeric-owner -C "$root/fs" -cf "$slim.tmp" . && mv "$slim.tmp" "$slim"
fi
for pair in "debian:12=$minbase" "debian:12-slim=$slim"; do
    tag=docker.io/library/${pair%%=*}
    have=$(podman image inspect --format '{{index .Config.Labels "assetd.bases"}}' "$tag" 2>/dev/null || true)
    if [ "$have" != "$version" ]; then
        echo "bases: podman import $tag"
        podman import -q --change 'CMD ["bash"]' --change "LABEL assetd.bases=$version" "${pair#*=}" "$tag" >/dev/null
    fi
done
echo "bases: $(podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep 'library/debian' | tr '\n' ' ')"
