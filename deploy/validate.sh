#!/usr/bin/env bash
# deploy/validate.sh: check the deployment artefacts on a host that has no
# Docker engine, no kubectl and no cluster (CI). One line per check:
#   PASS <check> | FAIL <check>: why | SKIP <check>: why
# Exit status 1 if any check FAILs.
#
#  (a) manifests: parse every YAML file in deploy/ (node + the `yaml` npm
#      package if installed, e.g. tests/sdk/node_modules; else python3 +
#      PyYAML) and run deploy/validate_manifests.js over the result;
#  (b) systemd: `systemd-analyze verify` and an offline exposure score of
#      deploy/assetd.service, if systemd-analyze exists;
#  (c) Dockerfile: replay its build stage on this host (a `git ls-files` copy
#      of the tree, the stage's own RUN lines) and check that the shared
#      libraries the binary loads all come from packages the runtime stage
#      installs (ldd + dpkg -S + the dpkg dependency graph).
#
# Options: --no-build   skip the build replay in (c) (static Dockerfile checks only)
#          --keep       keep the temporary directory and print its path
# Env:     ASSETD_VALIDATE_YAML=node|python forces one YAML loader
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
no_build=0 keep=0
for a in "$@"; do
  case $a in
    --no-build) no_build=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--no-build] [--keep]" >&2; exit 2 ;;
  esac
done

fails=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }
skip() { printf 'SKIP %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/assetd-deploy-validate.XXXXXX")
if [ "$keep" = 1 ]; then echo "temporary directory: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

###############################################################################
# (a) YAML manifests
###############################################################################
mapfile -t yaml_files < <(cd "$here" && find . -path ./secrets -prune -o -path '*/node_modules' -prune -o \
  -type f \( -name '*.yaml' -o -name '*.yml' \) -print | sed 's#^\./##' | LC_ALL=C sort)

# YAML -> JSON: {"files":[{"path","docs","error"}]}. YAML 1.1 rules (merge
# keys, 0-prefixed octal) as in compose-go and Kubernetes' sigs.k8s.io/yaml.
node_yaml_loader() {
  node - "$here" "$1" "${yaml_files[@]}" <<'EOF'
const fs = require('fs'), path = require('path');
const [dir, mod, ...files] = process.argv.slice(2);
const YAML = require(mod);
const out = { files: [] };
for (const f of files) {
  const e = { path: f, docs: [], error: null };
  try {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'), { version: '1.1', uniqueKeys: true });
    const errs = [].concat(...docs.map((d) => d.errors || []));
    if (errs.length) e.error = errs.map((x) => x.message.split('\n')[0]).join(' | ');
    else e.docs = docs.map((d) => d.toJS({ maxAliasCount: 1000 }));
  } catch (x) { e.error = String(x.message || x).split('\n')[0]; }
  out.files.push(e);
}
process.stdout.write(JSON.stringify(out));
EOF
}

python_yaml_loader() {
  python3 - "$here" "${yaml_files[@]}" <<'EOF'
import json, os, sys, yaml
d, files = sys.argv[1], sys.argv[2:]
class Loader(yaml.SafeLoader):
    pass
def mapping(loader, node, deep=False):
    seen = set()
    for k, _ in node.value:
        if k.tag == 'tag:yaml.org,2002:merge':
            continue
        key = k.value if isinstance(k, yaml.ScalarNode) else id(k)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, 'duplicate key %r' % (key,), k.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                       lambda l, n: mapping(l, n, deep=True))
out = {'files': []}
for f in files:
    e = {'path': f, 'docs': [], 'error': None}
    try:
        with open(os.path.join(d, f)) as fh:
            e['docs'] = list(yaml.load_all(fh, Loader=Loader))
    except Exception as x:
        e['error'] = str(x).replace('\n', ' ')
    out['files'].append(e)
json.dump(out, sys.stdout, default=str)
EOF
}

yaml_json="$tmp/yaml.json"
loader=""
force=${ASSETD_VALIDATE_YAML:-}   # "node" or "python" to force one loader
if have node && [ "$force" != python ]; then
  # tests/sdk/node_modules first (the SDK tests add `yaml`), then anything
  # node itself can resolve (NODE_PATH, a repo-level node_modules).
  yaml_mod=$(node -e '
    for (const p of process.argv.slice(1)) { try { console.log(require.resolve("yaml", { paths: [p] })); process.exit(0); } catch (e) {} }
    process.exit(1);' "$repo/tests/sdk" "$repo" "$here" 2>/dev/null) && loader="node ($yaml_mod)"
fi
if [ -n "$loader" ]; then
  node_yaml_loader "$yaml_mod" >"$yaml_json" 2>"$tmp/loader.err" || loader=""
fi
if [ -z "$loader" ] && [ "$force" != node ] && have python3 && python3 -c 'import yaml' >/dev/null 2>&1; then
  python_yaml_loader >"$yaml_json" 2>"$tmp/loader.err" && loader="python3 PyYAML $(python3 -c 'import yaml; print(yaml.__version__)')"
fi

if [ "${#yaml_files[@]}" -eq 0 ]; then
  fail "manifests: no YAML files found under deploy/"
elif [ -z "$loader" ]; then
  fail "manifests: no YAML parser (need node + npm package 'yaml', e.g. 'npm --prefix tests/sdk install', or python3 with PyYAML) $(head -c 300 "$tmp/loader.err" 2>/dev/null | tr '\n' ' ')"
elif ! have node; then
  fail "manifests: node is required to run deploy/validate_manifests.js"
else
  pass "manifests: ${#yaml_files[@]} YAML files loaded with $loader"
  node "$here/validate_manifests.js" "$here" <"$yaml_json" >"$tmp/manifests.out" 2>&1
  rc=$?
  cat "$tmp/manifests.out"
  n=$(grep -c '^FAIL' "$tmp/manifests.out")
  if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then fail "manifests: validator crashed (exit $rc)"; fi
  fails=$((fails + n))
fi

# Secrets for compose must never be committed.
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  if git -C "$repo" check-ignore -q deploy/secrets/master_key && git -C "$repo" check-ignore -q deploy/secrets/pg_password; then
    pass "compose: deploy/secrets/* is git-ignored"
  else
    fail "compose: deploy/secrets/* is not git-ignored (deploy/secrets/.gitignore missing?)"
  fi
  tracked=$(git -C "$repo" ls-files deploy/secrets | grep -v '^deploy/secrets/.gitignore$')
  if [ -n "$tracked" ]; then fail "compose: secret files are tracked by git: $tracked"; fi
fi

###############################################################################
# (b) systemd unit
###############################################################################
unit="$here/assetd.service"
if [ ! -f "$unit" ]; then
  fail "systemd: deploy/assetd.service missing"
else
  req_missing=()
  for d in 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' 'ProtectHome=yes' \
           'MemoryDenyWriteExecute=yes' 'LimitCORE=0' 'Restart=on-failure' 'EnvironmentFile=/etc/assetd/env' \
           'LoadCredential=master_key:' 'LoadCredential=admin_token:' 'Environment=ASSETD_MASTER_KEY_FILE=%d/master_key' \
           'Environment=ASSETD_ADMIN_TOKEN_FILE=%d/admin_token' 'DynamicUser=yes'; do
    grep -q "^${d}" "$unit" || req_missing+=("$d")
  done
  if [ "${#req_missing[@]}" -eq 0 ]; then pass "systemd: required directives present"
  else fail "systemd: missing directives: ${req_missing[*]}"; fi

  if have systemd-analyze; then
    # `verify` insists that ExecStart's binary exists and is executable, which
    # it is not on a CI host. Verify a copy whose ExecStart points at an
    # existing executable instead, so what remains is the unit's own syntax.
    # `verify` exits 0 even for unknown keys or bad values, so any diagnostic
    # that names the unit counts as a failure.
    mkdir -p "$tmp/unit"
    sed -E 's#^(ExecStart=[-@:+!]*)/usr/local/bin/assetd#\1/bin/true#' "$unit" >"$tmp/unit/assetd.service"
    out=$(systemd-analyze verify "$tmp/unit/assetd.service" 2>&1)
    rc=$?
    diag=$(printf '%s\n' "$out" | grep -F 'assetd.service' || true)
    if [ "$rc" -eq 0 ] && [ -z "$diag" ]; then
      pass "systemd: systemd-analyze verify (ExecStart binary stubbed: not installed on this host)"
    else
      fail "systemd: systemd-analyze verify: $(printf '%s' "${diag:-$out}" | sed "s#$tmp/unit/#deploy/#g" | tr '\n' ' ' | head -c 600)"
    fi
    if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
      sec=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/unit/assetd.service" 2>&1)
      rc=$?
      score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
      if [ "$rc" -eq 0 ]; then pass "systemd: exposure score ${score:-?} <= 2.0 (systemd-analyze security --offline)"
      else fail "systemd: exposure score ${score:-?} > 2.0; run systemd-analyze security --offline=yes deploy/assetd.service"; fi
    else
      skip "systemd: exposure score (systemd-analyze too old for --offline)"
    fi
  else
    skip "systemd: systemd-analyze not installed, unit syntax not verified"
  fi
fi

###############################################################################
# (c) Dockerfile: static checks, then replay of the build stage on the host
###############################################################################
df="$here/Dockerfile"
if [ ! -f "$df" ]; then
  fail "dockerfile: deploy/Dockerfile missing"
  echo "validate: $fails check(s) failed"; exit 1
fi

# Logical instructions: comments dropped, "\"-continuations joined.
mapfile -t instr < <(awk '
  /^[[:space:]]*#/ { next }
  { line = cont ? line " " $0 : $0 }
  /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); cont = 1; next }
  { cont = 0; if (line !~ /^[[:space:]]*$/) print line; line = "" }' "$df")

stage=-1
declare -a st_from st_name st_workdir
declare -A st_runs st_copies st_env st_pkgs st_unsupported
user="" entry="" migr_env=""
for line in "${instr[@]}"; do
  line="${line#"${line%%[![:space:]]*}"}"
  kw=$(printf '%s' "${line%%[[:space:]]*}" | tr '[:lower:]' '[:upper:]')
  args="${line#*[[:space:]]}"; args="${args#"${args%%[![:space:]]*}"}"
  case $kw in
    FROM)
      stage=$((stage + 1)); read -r -a w <<<"$args"
      st_from[$stage]=${w[0]}; st_name[$stage]=""
      [ "${#w[@]}" -ge 3 ] && [ "$(printf %s "${w[1]}" | tr '[:upper:]' '[:lower:]')" = as ] && st_name[$stage]=${w[2]}
      st_workdir[$stage]=/ ;;
    WORKDIR) case $args in /*) st_workdir[$stage]=$args ;; *) st_workdir[$stage]="${st_workdir[$stage]%/}/$args" ;; esac ;;
    RUN)
      if [[ $args == \[* || $args == *'<<'* ]]; then st_unsupported[$stage]+="RUN(exec-form/heredoc) "
      elif [[ $args == *apt-get* ]]; then
        pk=$(printf '%s\n' "$args" | sed -n 's/.*apt-get[[:space:]]\{1,\}install[[:space:]]\{1,\}\(.*\)/\1/p' | sed 's/&&.*//; s/;.*//' \
             | tr ' ' '\n' | grep -v -e '^-' -e '^$' | tr '\n' ' ')
        st_pkgs[$stage]+="$pk"
      else st_runs[$stage]+="$args"$'\n'; fi ;;
    COPY|ADD) st_copies[$stage]+="$kw $args"$'\n' ;;
    ENV) st_env[$stage]+="$args"$'\n'
         v=$(printf '%s\n' "$args" | tr ' ' '\n' | sed -n 's/^ASSETD_MIGRATIONS_DIR=//p'); [ -n "$v" ] && migr_env=$v ;;
    USER) user=$args ;;
    ENTRYPOINT) entry=$args ;;
    ARG|LABEL|EXPOSE|STOPSIGNAL|CMD|HEALTHCHECK|SHELL) : ;;
    *) st_unsupported[$stage]+="$kw " ;;
  esac
done
nstages=$((stage + 1))
runtime=$((nstages - 1))
build=-1
for ((i = 0; i < nstages; i++)); do [ "${st_name[$i]}" = build ] && build=$i; done

p=()
[ "$nstages" -ge 2 ] || p+=("expected a multi-stage build")
[ "$build" -ge 0 ] || p+=("no stage named 'build'")
[ "$build" -ge 0 ] && [ "${st_from[$build]}" != debian:12 ] && p+=("build stage FROM ${st_from[$build]}, expected debian:12")
[ "${st_from[$runtime]:-}" = debian:12-slim ] || p+=("runtime stage FROM ${st_from[$runtime]:-?}, expected debian:12-slim")
case $user in ''|0|0:*|root|root:*) p+=("runtime USER is '${user:-unset}' (must be non-root)") ;; esac
if [[ $user =~ ^([0-9]+) ]] && ! grep -Eq -- "useradd .*--uid ${BASH_REMATCH[1]}( |$)" "$df"; then p+=("USER $user but no useradd --uid ${BASH_REMATCH[1]}"); fi
[ "$entry" = '["assetd"]' ] || p+=("ENTRYPOINT is '$entry', expected [\"assetd\"]")
grep -Eq '^CMD \["serve"\]' "$df" || p+=('CMD is not ["serve"]')
grep -Eq '^EXPOSE 8080' "$df" || p+=("no EXPOSE 8080")
for ((i = 0; i < nstages; i++)); do [ -n "${st_unsupported[$i]:-}" ] && p+=("stage $i uses instructions the replay cannot follow: ${st_unsupported[$i]}"); done
if [ "${#p[@]}" -eq 0 ]; then pass "dockerfile: stages (${st_from[*]}), non-root USER $user, ENTRYPOINT/CMD"
else fail "dockerfile: $(IFS=';'; echo "${p[*]}")"; fi
[ "${#p[@]}" -eq 0 ] || { echo "validate: $((fails)) check(s) failed"; exit 1; }

# Runtime COPY --from=build lines: "src dest" pairs.
mapfile -t rt_copies < <(printf '%s' "${st_copies[$runtime]:-}" | awk '$1=="COPY" && $2=="--from=build" {print $3, $4}')
bin_dest="" bin_src="" mig_src="" mig_dest=""
for c in "${rt_copies[@]}"; do
  read -r s d <<<"$c"
  case $d in */bin/assetd) bin_src=$s bin_dest=$d ;; esac
  case $s in */migrations|*/migrations/) mig_src=$s mig_dest=${d%/} ;; esac
done
p=()
[ "$bin_dest" = /usr/local/bin/assetd ] || p+=("binary not copied to /usr/local/bin/assetd")
[ "$mig_dest" = /usr/share/assetd/migrations ] || p+=("migrations not copied to /usr/share/assetd/migrations")
[ "${migr_env%/}" = "$mig_dest" ] || p+=("ENV ASSETD_MIGRATIONS_DIR=$migr_env is not the migrations COPY destination $mig_dest")
if [ "${#p[@]}" -eq 0 ]; then pass "dockerfile: runtime stage installs $bin_dest and $mig_dest (= ASSETD_MIGRATIONS_DIR)"
else fail "dockerfile: $(IFS=';'; echo "${p[*]}")"; fi

# Same Debian release on this host, else ldd/dpkg answers say nothing about the image.
. /etc/os-release 2>/dev/null || true
if [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]; then
  pass "host: Debian 12, same release as the image stages"
  same_release=1
else
  skip "host: ${PRETTY_NAME:-unknown OS}, not Debian 12; library/package checks are not meaningful here"
  same_release=0
fi

if [ "$no_build" = 1 ]; then
  skip "dockerfile: build replay (--no-build)"
  echo "validate: $([ "$fails" -eq 0 ] && echo 'all checks passed' || echo "$fails check(s) failed")"
  [ "$fails" -eq 0 ]; exit
fi
if [ "$same_release" = 0 ] || ! have dpkg-query; then
  skip "dockerfile: build replay needs a Debian 12 host with dpkg"
  echo "validate: $([ "$fails" -eq 0 ] && echo 'all checks passed' || echo "$fails check(s) failed")"
  [ "$fails" -eq 0 ]; exit
fi

# Installed packages, one dump: name, status, Depends + Pre-Depends, Priority, Essential.
declare -A inst deps prio ess
while IFS=$'\t' read -r pkg status dep pr es; do
  [[ $status == *" installed" ]] || continue
  inst[$pkg]=1; deps[$pkg]=$dep; prio[$pkg]=$pr; ess[$pkg]=$es
done < <(dpkg-query -W -f='${Package}\t${Status}\t${Depends}, ${Pre-Depends}\t${Priority}\t${Essential}\n' 2>/dev/null)

# 1. build stage: its apt-get install list must be installed here.
read -r -a build_pkgs <<<"${st_pkgs[$build]:-}"
missing=()
for pkg in "${build_pkgs[@]}"; do [ -n "${inst[$pkg]:-}" ] || missing+=("$pkg"); done
if [ "${#build_pkgs[@]}" -eq 0 ]; then fail "build stage: no apt-get install list found"
elif [ "${#missing[@]}" -eq 0 ]; then pass "build stage: apt packages installed on host (${build_pkgs[*]})"
else fail "build stage: not installed on host: ${missing[*]} (apt-get install ${missing[*]})"; fi

# 2. build stage COPY from the context: the context is the repository as git
#    sees it (tracked + untracked-but-not-ignored files), never stray build
#    output of the working tree.
ctx="$tmp/context" root="$tmp/root"
mkdir -p "$ctx" "$root"
if ! git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  fail "build stage: $repo is not a git work tree"
else
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
     | while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done \
     | tar --null -T - -cf - 2>"$tmp/tar.err") | tar -xf - -C "$ctx"
  nfiles=$(cd "$ctx" && find . -type f | wc -l)
  p=()
  while IFS= read -r c; do
    [ -n "$c" ] || continue
    read -r -a w <<<"$c"
    [ "${w[0]}" = COPY ] || { p+=("${w[0]} in build stage not replayed"); continue; }
    ws=(); for t in "${w[@]:1}"; do [[ $t == --* ]] && { [[ $t == --from=* ]] && p+=("COPY $t in build stage not replayed"); continue; }; ws+=("$t"); done
    dest=${ws[-1]}; unset 'ws[-1]'
    [[ $dest == /* ]] || dest="${st_workdir[$build]%/}/$dest"
    for s in "${ws[@]}"; do
      if [ -d "$ctx/$s" ]; then mkdir -p "$root$dest" && cp -a "$ctx/$s/." "$root$dest/"
      elif [ -e "$ctx/$s" ]; then
        if [[ $dest == */ || ${#ws[@]} -gt 1 ]]; then mkdir -p "$root$dest" && cp -a "$ctx/$s" "$root$dest/"
        else mkdir -p "$(dirname "$root$dest")" && cp -a "$ctx/$s" "$root$dest"; fi
      else p+=("COPY source $s not in the git tree"); fi
    done
  done <<<"${st_copies[$build]:-}"
  if [ "${#p[@]}" -eq 0 ]; then pass "build stage: COPY replayed from a git ls-files copy ($nfiles files)"
  else fail "build stage: $(IFS=';'; echo "${p[*]}")"; fi

  # 3. build stage RUN lines, in WORKDIR, with /bin/sh -c like docker.
  wd="$root${st_workdir[$build]}"
  mkdir -p "$wd"
  build_ok=1
  start=$SECONDS
  while IFS= read -r r; do
    [ -n "$r" ] || continue
    if ! (cd "$wd" && env ${st_env[$build]:-} /bin/sh -c "$r") >>"$tmp/build.log" 2>&1; then
      fail "build stage: RUN $r failed: $(grep -m1 -iE 'error|no rule|not found' "$tmp/build.log" | head -c 300)"
      tail -n 15 "$tmp/build.log" | sed 's/^/    | /'
      build_ok=0; break
    fi
  done <<<"${st_runs[$build]:-}"
  [ "$build_ok" = 1 ] && pass "build stage: RUN lines replayed in a clean tree ($((SECONDS - start)) s): $(printf '%s' "${st_runs[$build]:-}" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"

  # 4. runtime COPY --from=build sources exist after the build.
  if [ "$build_ok" = 1 ]; then
    p=()
    for c in "${rt_copies[@]}"; do
      read -r s d <<<"$c"
      if [ ! -e "$root$s" ]; then p+=("$s missing")
      elif [ -d "$root$s" ] && [ -z "$(ls -A "$root$s")" ]; then p+=("$s is empty")
      fi
    done
    if [ -n "$mig_src" ] && [ -d "$root$mig_src" ] && ! compgen -G "$root${mig_src%/}/*.sql" >/dev/null; then p+=("$mig_src holds no .sql file"); fi
    if [ "${#p[@]}" -eq 0 ]; then pass "runtime stage: COPY --from=build sources exist (${rt_copies[*]})"
    else fail "runtime stage: COPY --from=build: $(IFS=';'; echo "${p[*]}")"; build_ok=0; fi
  fi

  # 5. shared libraries of the binary vs the runtime stage's packages.
  bin="$root$bin_src"
  if [ "$build_ok" = 1 ] && [ -x "$bin" ]; then
    read -r -a rt_pkgs <<<"${st_pkgs[$runtime]:-}"
    # Closure of the runtime list over Depends/Pre-Depends (installed
    # alternatives only), plus the base image: Essential and Priority
    # required packages, which debian:12-slim ships, and their closure.
    declare -A listed=() closure=() base=()
    for pkg in "${rt_pkgs[@]}"; do listed[$pkg]=1; done
    close_over() { # name of assoc array, packages...
      local -n acc=$1; shift
      local queue=("$@") q a alt name groups alts
      while [ "${#queue[@]}" -gt 0 ]; do
        q=${queue[0]}; queue=("${queue[@]:1}")
        [ -n "${acc[$q]:-}" ] && continue
        acc[$q]=1
        IFS=',' read -r -a groups <<<"${deps[$q]:-}"
        for a in "${groups[@]}"; do
          IFS='|' read -r -a alts <<<"$a"
          for alt in "${alts[@]}"; do
            name=${alt%%(*}; name=${name%%:*}; name=${name//[[:space:]]/}
            if [ -n "$name" ] && [ -n "${inst[$name]:-}" ]; then queue+=("$name"); break; fi
          done
        done
      done
    }
    close_over closure "${rt_pkgs[@]}"
    seeds=(); for pkg in "${!inst[@]}"; do [ "${ess[$pkg]}" = yes ] || [ "${prio[$pkg]}" = required ] && seeds+=("$pkg"); done
    close_over base "${seeds[@]}"

    # soname -> path for everything the loader pulls in.
    mapfile -t ldd_lines < <(ldd "$bin" 2>&1)
    declare -A so_path=()
    p=()
    for l in "${ldd_lines[@]}"; do
      if [[ $l =~ ^[[:space:]]*([^[:space:]]+)[[:space:]]+=\>[[:space:]]+not\ found ]]; then p+=("${BASH_REMATCH[1]} not found")
      elif [[ $l =~ ^[[:space:]]*([^[:space:]]+)[[:space:]]+=\>[[:space:]]+(/[^[:space:]]+) ]]; then so_path[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
      elif [[ $l =~ ^[[:space:]]*(/[^[:space:]]+)[[:space:]]+\( ]]; then so_path[$(basename "${BASH_REMATCH[1]}")]=${BASH_REMATCH[1]}
      fi
    done
    # Owning package of each library, from ONE dpkg-query -S call over every
    # spelling of its path (dpkg may know /lib/... or /usr/lib/... on
    # merged-/usr, and the symlink or its target).
    cands() { local f=$1; printf '%s\n' "$f" "$(readlink -f "$f")" "${f#/usr}" "/usr$f"; }
    declare -A path_pkg=()
    mapfile -t all_cands < <(for so in "${!so_path[@]}"; do cands "${so_path[$so]}"; done | LC_ALL=C sort -u)
    while IFS= read -r l; do
      [[ $l == diversion* ]] && continue
      pkgs=${l%%: /*}; f=${l#"$pkgs: "}
      path_pkg[$f]=${pkgs%%[:,]*}
    done < <(dpkg-query -S "${all_cands[@]}" 2>/dev/null)
    owner_of() {
      local c
      while IFS= read -r c; do
        [ -n "${path_pkg[$c]:-}" ] && { echo "${path_pkg[$c]}"; return; }
      done < <(cands "$1")
    }
    mapfile -t needed < <(LC_ALL=C readelf -d "$bin" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    declare -A is_needed=() used_pkg=()
    for n in "${needed[@]}"; do is_needed[$n]=1; done
    summary=()
    for so in "${!so_path[@]}"; do
      [[ $so == linux-vdso* ]] && continue
      pkg=$(owner_of "${so_path[$so]}")
      if [ -z "$pkg" ]; then p+=("$so (${so_path[$so]}) belongs to no Debian package"); continue; fi
      used_pkg[$pkg]=1
      if [ -n "${is_needed[$so]:-}" ]; then
        summary+=("$so:$pkg")
        # Direct dependencies must be named in the runtime stage (or be in the
        # base image), not arrive by luck through another package's Depends.
        [ -n "${listed[$pkg]:-}" ] || [ -n "${base[$pkg]:-}" ] || p+=("$so from $pkg: linked directly but $pkg is not in the runtime apt-get list")
      else
        [ -n "${closure[$pkg]:-}" ] || [ -n "${base[$pkg]:-}" ] || p+=("$so from $pkg: not pulled in by the runtime packages")
      fi
    done
    for n in "${needed[@]}"; do [ -n "${so_path[$n]:-}" ] || [[ " ${p[*]} " == *"$n not found"* ]] || p+=("NEEDED $n not resolved by ldd"); done
    if [ "${#p[@]}" -eq 0 ]; then
      pass "runtime stage: ${#so_path[@]} shared objects, all from its packages + debian:12-slim base; direct: $(printf '%s\n' "${summary[@]}" | LC_ALL=C sort | tr '\n' ' ')"
    else fail "runtime stage: $(IFS=';'; echo "${p[*]}")"; fi
    unused=()
    for pkg in "${rt_pkgs[@]}"; do [ "$pkg" = ca-certificates ] || [ -n "${used_pkg[$pkg]:-}" ] || unused+=("$pkg"); done
    if [ "${#unused[@]}" -eq 0 ]; then pass "runtime stage: every listed library package is used by the binary"
    else fail "runtime stage: listed but not loaded by the binary: ${unused[*]} (drop them from the runtime apt-get list)"; fi

    # 6. every ASSETD_* variable the artefacts set is one the binary knows.
    mapfile -t vars < <(cat "$here/compose.yaml" "$here"/k8s/*.yaml "$here/assetd.service" "$df" 2>/dev/null \
                         | grep -oE '\b(ASSETD_[A-Z0-9_]+|DATABASE_URL)\b' | LC_ALL=C sort -u)
    unknown=()
    for v in "${vars[@]}"; do
      LC_ALL=C grep -aqF -- "$v" "$bin" && continue
      # *_FILE names may be built as "<NAME>_FILE" at run time.
      [[ $v == *_FILE ]] && LC_ALL=C grep -aqF -- "${v%_FILE}" "$bin" && continue
      unknown+=("$v")
    done
    if [ "${#unknown[@]}" -eq 0 ]; then pass "binary: knows all ${#vars[@]} environment variables the artefacts set"
    else fail "binary: no trace of ${unknown[*]} in $bin_src (renamed or misspelled?)"; fi
  elif [ "$build_ok" = 1 ]; then
    fail "build stage: $bin_src not produced"
  fi
fi

echo "validate: $([ "$fails" -eq 0 ] && echo 'all checks passed' || echo "$fails check(s) failed")"
[ "$fails" -eq 0 ]
