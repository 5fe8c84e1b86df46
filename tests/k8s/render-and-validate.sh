#!/bin/sh
# Renders every overlay under k8s/overlays with `kubectl kustomize` into OUT/<overlay>.yaml and
# validates them all with tests/tools/validate-k8s.mjs (schemas, unknown fields, policy).
# With AURORA_KUBECTL_COMPAT=/path/to/another/kubectl (e.g. Debian's 1.20, kustomize v2.0.3)
# each overlay is rendered by it too, and both renderings must hold the same objects.
# Usage: render-and-validate.sh SOURCE_DIR OUT_DIR. Exit 77 (skip) when kubectl or node is missing.
set -eu
src=$1
out=$2
kubectl=${AURORA_KUBECTL:-kubectl}
command -v "$kubectl" >/dev/null 2>&1 || { echo "kubectl not found: run scripts/setup"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "node not found: run scripts/setup"; exit 77; }
tools="$src/tests/tools"
[ -d "$tools/node_modules/kubernetes-models" ] || {
  echo "FAIL: $tools/node_modules lacks kubernetes-models: run scripts/setup (npm ci)"; exit 1; }

mkdir -p "$out"
rendered=""
for overlay in "$src"/k8s/overlays/*/; do
  name=$(basename "$overlay")
  file="$out/$name.yaml"
  # kustomize v5 warns on stderr that `bases:` is deprecated; v2.0.3 needs it. Errors fail.
  if ! "$kubectl" kustomize "$overlay" >"$file" 2>"$out/$name.stderr"; then
    echo "FAIL: $kubectl kustomize $overlay:"
    cat "$out/$name.stderr"
    exit 1
  fi
  grep -v "'bases' is deprecated" "$out/$name.stderr" || true
  echo "rendered $overlay -> $file ($(grep -c '^kind:' "$file") objects)"
  rendered="$rendered $file"
  if [ -n "${AURORA_KUBECTL_COMPAT:-}" ]; then
    "$AURORA_KUBECTL_COMPAT" kustomize "$overlay" >"$out/$name.compat.yaml"
    node "$tools/k8s-same-objects.mjs" "$file" "$out/$name.compat.yaml"
  fi
done
[ -n "$rendered" ] || { echo "FAIL: no overlays under $src/k8s/overlays"; exit 1; }
# shellcheck disable=SC2086
exec node "$tools/validate-k8s.mjs" $rendered
