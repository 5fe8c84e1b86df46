#!/bin/sh
# Checks the Dockerfile's runtime stage without a container engine:
#  - every package it installs exists in this machine's Debian (bookworm) archive (apt-cache);
#  - every library the built binary loads (ldd) belongs to one of those packages, to one of
#    their dependencies, or to the base image's essential/required packages;
#  - the binary, the user 10001 and the shared data are where the manifests expect them.
# Usage: check-dockerfile.sh DOCKERFILE AURORA_BINARY. Exit 77 (skip) off Debian.
set -eu
dockerfile=$1
binary=$2
for tool in apt-cache dpkg dpkg-query ldd; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found: not Debian, skipped"; exit 77; }
done
[ -x "$binary" ] || { echo "FAIL: no binary $binary"; exit 1; }

# The runtime stage's packages: the words between "runtime-packages" and "end-runtime-packages"
# that look like package names, after "--no-install-recommends".
packages=$(awk '/runtime-packages:/{on=1} /end-runtime-packages/{on=0} on' "$dockerfile" \
  | grep -v '^#' | tr ' \\' '\n\n' \
  | awk '/--no-install-recommends/{go=1; next} go && /^[a-z0-9][a-z0-9.+-]+$/ && $0 != "rm" {print}' \
  | sed '/^&&$/d' | sort -u)
packages=$(printf '%s\n' $packages | grep -v -x -e rm -e apt-get -e install || true)
[ -n "$packages" ] || { echo "FAIL: found no runtime packages in $dockerfile"; exit 1; }
echo "runtime packages: $(echo $packages)"

failed=0
# shellcheck disable=SC2086
known=$(apt-cache show --no-all-versions $packages 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
for p in $packages; do
  if ! printf '%s\n' "$known" | grep -q -x -F "$p"; then
    echo "FAIL: package $p is not in the Debian archive (apt-cache show)"
    failed=1
  fi
done

# What the image will hold: the listed packages, their dependencies, and bookworm-slim's base.
closure=$(mktemp)
trap 'rm -f "$closure"' EXIT
# shellcheck disable=SC2086
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $packages 2>/dev/null \
  | sed -n 's/^ *\(Pre\)\{0,1\}Depends: <\{0,1\}\([^>:]*\)>\{0,1\}.*/\2/p; s/^\([a-z0-9][^ :<>]*\)$/\1/p' \
  >"$closure"
dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' \
  | awk '$2 == "yes" || $3 == "required" {print $1}' >>"$closure"
printf '%s\n' $packages >>"$closure"
sort -u -o "$closure" "$closure"

# One dpkg -S for every library (as ldd names it, and its real file: /lib vs /usr/lib).
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}')
owners=$(mktemp)
trap 'rm -f "$closure" "$owners"' EXIT
for lib in $libs; do printf '%s\n%s\n' "$lib" "$(readlink -f "$lib")"; done | sort -u \
  | xargs dpkg -S 2>/dev/null | sed 's/^\([^:]*\)\(:[a-z0-9]*\)\{0,1\}: /\1 /' >"$owners" || true
for lib in $libs; do
  real=$(readlink -f "$lib")
  owner=$(awk -v a="$lib" -v b="$real" '$2 == a || $2 == b {print $1; exit}' "$owners")
  if [ -z "$owner" ]; then
    echo "FAIL: $lib (loaded by $binary) belongs to no Debian package"
    failed=1
  elif ! grep -q -x -F "$owner" "$closure"; then
    echo "FAIL: $lib comes from $owner, which the runtime stage does not install"
    failed=1
  fi
done
if ldd "$binary" | grep -q 'not found'; then
  echo "FAIL: ldd: $(ldd "$binary" | grep 'not found' | tr '\n' ' ')"
  failed=1
fi

# The paths and the user the Kubernetes manifests rely on.
for line in 'FROM debian:bookworm AS build' 'FROM debian:bookworm-slim AS runtime' \
    'COPY --from=build /out/aurora /usr/local/bin/aurora' \
    'COPY --from=shared data/codelists /usr/share/aurora/codelists' \
    'COPY --from=shared data/services.ndjson /usr/share/aurora/demo/services.ndjson' \
    'USER 10001:10001'; do
  grep -q -F -x "$line" "$dockerfile" || { echo "FAIL: the Dockerfile lacks: $line"; failed=1; }
done
grep -q 'cmake --preset release' "$dockerfile" || { echo "FAIL: no release build"; failed=1; }

[ "$failed" = 0 ] && echo "ok: $(echo $packages | wc -w) runtime packages exist and provide every library of $(basename "$binary")"
exit "$failed"
