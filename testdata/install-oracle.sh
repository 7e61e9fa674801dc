#!/usr/bin/env bash
# Installs Debian trixie's `crash` (8.0.6) into private roots, one per arch,
# as the comparison oracle for kinspect's tests (internal/oracle).
#
#   testdata/install-oracle.sh [ARCH...]     # default: amd64 arm64 armhf (x86_64, arm accepted)
#
# Why trixie's and not the host's: bookworm's crash 8.0.2 does not know the
# struct pid change backported to 6.1.176 and lists only the idle and running
# tasks of the fixture kernels. Trixie's crash needs trixie's libc, so it runs
# from a private root: natively through the root's own dynamic loader
# (amd64), under qemu-user-static with -L ROOT (arm64, armhf); see
# testdata/crash-oracle.
#
# Nothing of the system's apt configuration is changed: a private apt
# config, state and cache dir under $KINSPECT_ORACLE/.apt point at trixie on
# the same mirror the system's sources use. Idempotent: a root whose
# .complete stamp exists is left alone.
#
# Environment: KINSPECT_ORACLE (default ~/.cache/kinspect/oracle).
set -euo pipefail

ORACLE=${KINSPECT_ORACLE:-$HOME/.cache/kinspect/oracle}
SUITE=trixie
ARCHES=("$@")
[ ${#ARCHES[@]} -gt 0 ] || ARCHES=(amd64 arm64 armhf)

die() { echo "install-oracle: $*" >&2; exit 1; }
log() { echo "install-oracle: $*" >&2; }

# kinspect's arch names are accepted too.
for i in "${!ARCHES[@]}"; do
  case ${ARCHES[$i]} in
    amd64|arm64|armhf) ;;
    x86_64) ARCHES[$i]=amd64 ;;
    arm) ARCHES[$i]=armhf ;;
    aarch64) ARCHES[$i]=arm64 ;;
    *) die "unsupported arch ${ARCHES[$i]} (want amd64/x86_64, arm64 or armhf/arm)" ;;
  esac
done

todo=()
for a in "${ARCHES[@]}"; do
  if [ -e "$ORACLE/$SUITE-$a/.complete" ]; then
    log "$SUITE-$a: already installed ($(cat "$ORACLE/$SUITE-$a/.complete"))"
  else
    todo+=("$a")
  fi
done
[ ${#todo[@]} -gt 0 ] || exit 0

for tool in apt-get apt-cache dpkg-deb; do
  command -v $tool >/dev/null || die "$tool not found (this script needs a Debian host)"
done
for a in "${todo[@]}"; do
  case $a in
    arm64) command -v qemu-aarch64-static >/dev/null ||
      die "qemu-aarch64-static missing: apt-get install qemu-user-static (make deps)" ;;
    armhf) command -v qemu-arm-static >/dev/null ||
      die "qemu-arm-static missing: apt-get install qemu-user-static (make deps)" ;;
  esac
done

# The mirror: the first Debian archive URI of the system's sources (deb822
# .sources or one-line .list), so that a proxy or local mirror set up for
# this host is used for trixie too.
mirror=$(
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p'
  } | grep -E '^(https?|file|mirror[+a-z]*)://' | grep -v -- '-security' |
    grep -E '/debian/?$' | head -1
) || true
[ -n "$mirror" ] || die "no Debian archive URI (…/debian) found in /etc/apt/sources.list{,.d}"
mirror=${mirror%/}
keyring=
for k in /usr/share/keyrings/debian-archive-keyring.gpg /usr/share/keyrings/debian-archive-trixie-stable.gpg; do
  [ -r "$k" ] && { keyring=$k; break; }
done
[ -n "$keyring" ] || die "no Debian archive keyring in /usr/share/keyrings (apt-get install debian-archive-keyring)"
log "mirror $mirror, keyring $keyring"

APTDIR=$ORACLE/.apt
mkdir -p "$APTDIR"/{etc/apt.conf.d,etc/preferences.d,etc/sources.list.d,state/lists/partial,cache/archives/partial,debs}
touch "$APTDIR/state/status"
cat >"$APTDIR/etc/sources.list.d/trixie.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: $keyring
EOF
archlist=$(IFS=,; echo "${todo[*]}")
cat >"$APTDIR/apt.conf" <<EOF
Dir::Etc "$APTDIR/etc";
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$APTDIR/etc/sources.list.d";
Dir::Etc::parts "$APTDIR/etc/apt.conf.d";
Dir::Etc::preferencesparts "$APTDIR/etc/preferences.d";
Dir::State "$APTDIR/state";
Dir::State::status "$APTDIR/state/status";
Dir::Cache "$APTDIR/cache";
APT::Architecture "amd64";
APT::Architectures { $(for a in "${todo[@]}"; do printf '"%s"; ' "$a"; done)};
Acquire::Languages "none";
APT::Sandbox::User "root";
APT::Install-Recommends "false";
EOF
export APT_CONFIG=$APTDIR/apt.conf

# Lists older than a day are refreshed; a failed refresh with lists present
# goes on with them (a transient "Mirror sync in progress?").
stale=0
for a in "${todo[@]}"; do
  [ -n "$(find "$APTDIR/state/lists" -maxdepth 1 -name "*_${SUITE}_main_binary-${a}_Packages*" -mmin -1440 2>/dev/null | head -1)" ] || stale=1
done
if [ $stale = 1 ]; then
  log "apt-get update ($SUITE: $archlist)"
  if ! apt-get -q update >&2; then
    sleep 3
    apt-get -q update >&2 || {
      ls "$APTDIR"/state/lists/*Packages* >/dev/null 2>&1 || die "apt-get update of $SUITE failed"
      log "WARNING: apt-get update reported errors; using the lists present"
    }
  fi
fi

# deps ARCH PKG...: the transitive Depends/PreDepends closure of PKG on ARCH,
# one pkg:arch per line. Virtual packages resolve to their first provider
# (apt-cache depends prints those as <virt> followed by indented providers).
deps() {
  local arch=$1; shift
  local -A seen=()
  local queue=("$@") p out
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    # crash depends on binutils for tools it runs on live systems only;
    # reading a dump needs none of it.
    case $p in binutils|binutils-*) continue ;; esac
    echo "$p"
    out=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "$p:$arch" 2>/dev/null) ||
      die "apt-cache depends $p:$arch failed (is $p in $SUITE for $arch?)"
    # Lines: "  Depends: libc6" / "  PreDepends: x" / " |Depends: a" then
    # "  Depends: b" (a or b: take a) / "  Depends: <virt>" followed by
    # "    provider" lines (take the first provider).
    while read -r dep; do
      [ -n "$dep" ] && queue+=("$dep")
    done < <(awk '
      /^ *\|?(Pre)?Depends: / {
        bar = ($0 ~ /^ *\|/); skip = in_alt; in_alt = bar
        sub(/^ *\|?(Pre)?Depends: /, "")
        if ($0 ~ /^</) { virt = !skip; next }
        virt = 0
        sub(/:.*/, ""); if (!skip) print; next
      }
      virt && /^    [^ ]/ { sub(/^ +/, ""); sub(/:.*/, ""); print; virt = 0; next }
    ' <<<"$out")
  done
}

here=$(cd "$(dirname "$0")" && pwd)
for a in "${todo[@]}"; do
  t0=$(date +%s)
  root=$ORACLE/$SUITE-$a
  log "$SUITE-$a: resolving crash's dependencies"
  # Keep crash and shared-library packages (gcc-14-base and the like carry
  # only documentation).
  mapfile -t pkgs < <(deps "$a" crash | grep -E '^(crash|lib.*|zlib1g)$' | sort -u)
  [ ${#pkgs[@]} -gt 1 ] || die "$SUITE-$a: no dependencies resolved for crash"
  log "$SUITE-$a: ${pkgs[*]}"
  debdir=$APTDIR/debs/$a
  mkdir -p "$debdir"
  (cd "$debdir" && apt-get -q download $(printf '%s:'"$a"' ' "${pkgs[@]}") >&2) ||
    die "$SUITE-$a: apt-get download failed"
  tmp=$root.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for p in "${pkgs[@]}"; do
    deb=$(ls "$debdir/${p}_"*"_$a.deb" "$debdir/${p}_"*"_all.deb" 2>/dev/null | sort -V | tail -1) ||
      true
    [ -n "$deb" ] || die "$SUITE-$a: $p was not downloaded into $debdir"
    dpkg-deb -x "$deb" "$tmp"
  done
  # usrmerge: trixie's packages ship /usr/lib only; the loader path in the
  # binaries is /lib/ld-linux-*.so (and /lib64 on amd64), which under
  # qemu -L ROOT or our explicit loader call must exist inside the root.
  for d in lib lib64 bin sbin; do
    if [ -d "$tmp/usr/$d" ] && [ ! -e "$tmp/$d" ]; then ln -s "usr/$d" "$tmp/$d"; fi
  done
  [ -x "$tmp/usr/bin/crash" ] || die "$SUITE-$a: usr/bin/crash missing after extraction"
  ver=$(dpkg-deb -f "$(ls "$debdir"/crash_*_"$a".deb | sort -V | tail -1)" Version)
  rm -rf "$root"
  mv "$tmp" "$root"
  rm -rf "$debdir"
  echo "crash $ver $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$root/.complete"
  # Smoke test through the wrapper the tests use; a root that cannot run
  # crash is not complete.
  if ! "$here/crash-oracle" "$a" --version </dev/null 2>&1 | grep -q '^crash [0-9]'; then
    rm -f "$root/.complete"
    die "$SUITE-$a: installed in $root but \`crash --version\` does not run there (see testdata/crash-oracle)"
  fi
  log "$SUITE-$a: crash $ver installed in $root ($(( $(date +%s) - t0 )) s, $(du -sh "$root" | cut -f1))"
done
# The package lists and apt's caches (~330 MB) are only needed to install;
# a later run for another arch fetches them again.
rm -rf "$APTDIR/state/lists" "$APTDIR"/cache/*.bin
log "done ($(du -sh "$ORACLE" | cut -f1) in $ORACLE)"
