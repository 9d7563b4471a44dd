#!/usr/bin/env bash
# Refresh the vendored browser libraries under ui/static/vendor/ from pinned npm packages.
#
# Run by a developer when a version changes (never on a user's machine: the vendored
# files are committed, so serving the UI needs no Node and no network). Needs `npm`.
#
# PACKAGES is the one table to edit: "package@version  target-folder  file..." where each
# file is a path inside the package tarball (the tarball's own "package/" prefix left
# off); a folder is copied whole (the bpmn.io stylesheets find their fonts by relative
# paths). The package's licence file is always copied too. Then commit ui/static/vendor/
# and update ui/static/vendor/VENDOR.md.
set -euo pipefail

PACKAGES=(
  "htmx.org@2.0.11  htmx  dist/htmx.min.js"
  "bpmn-js@18.31.1  bpmn-js  dist/bpmn-modeler.production.min.js dist/bpmn-navigated-viewer.production.min.js dist/assets"
  "dmn-js@17.10.2  dmn-js  dist/dmn-modeler.production.min.js dist/assets"
  "chart.js@4.6.1  chart.js  dist/chart.umd.min.js"
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/ui/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for row in "${PACKAGES[@]}"; do
  read -r spec target files <<<"$row"
  echo "== $spec -> ui/static/vendor/$target"
  rm -rf "$WORK/package"
  tarball="$(cd "$WORK" && npm pack --silent "$spec")"
  tar -xzf "$WORK/$tarball" -C "$WORK"
  rm -rf "${VENDOR:?}/$target"
  mkdir -p "$VENDOR/$target"
  for file in $files; do
    cp -R "$WORK/package/$file" "$VENDOR/$target/"
  done
  licence="$(find "$WORK/package" -maxdepth 1 -iname 'licen[cs]e*' | head -n 1)"
  if [ -z "$licence" ]; then
    echo "no licence file in $spec: refusing to vendor it" >&2
    exit 1
  fi
  cp "$licence" "$VENDOR/$target/LICENSE"
  echo "$spec" >"$VENDOR/$target/VERSION"
  rm -f "$WORK/$tarball"
done
echo "done: review and commit ui/static/vendor/"
