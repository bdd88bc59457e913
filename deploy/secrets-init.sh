#!/usr/bin/env bash
# Create the compose secrets in deploy/secrets/ (git-ignored) if missing:
#   master_key   base64 of 32 random bytes (assetd's key-encryption key)
#   admin_token  random token for the admin endpoints
#   pg_password  PostgreSQL password for the `assetd` role
# The directory is 0700 (host users other than you cannot reach the files);
# the files are 0644 because compose bind-mounts them unchanged into
# containers that run as uid 10001 (assetd) and must be able to read them.
# Existing files are never overwritten: losing master_key makes every stored
# secret unreadable, so back it up.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"
mkdir -p "$dir"
chmod 0700 "$dir"
rand() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
make_secret() { # name generator...
  local f="$dir/$1"; shift
  if [ -s "$f" ]; then echo "kept    $f"; return; fi
  (umask 022; "$@" >"$f.tmp" && mv "$f.tmp" "$f")
  chmod 0644 "$f"
  echo "created $f"
}
make_secret master_key rand 32
make_secret admin_token sh -c 'head -c 32 /dev/urandom | base64 | tr -d "\n=+/"'
make_secret pg_password sh -c 'head -c 24 /dev/urandom | base64 | tr -d "\n=+/"'
