#!/usr/bin/env bash
# Vendor the browser bundles of the modeler, viewer and dashboard pages into
# ui/static/vendor/ at pinned versions, with their licences. The files are committed:
# a user's machine needs no Node build step. Run this (it needs npm) only to update a
# version: change the table, run it, look at the pages, commit the result.
#
#   package@version   files copied from the package (paths inside the package)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/ui/static/vendor"

TABLE="
bpmn-js@18.31.1  LICENSE dist/bpmn-modeler.production.min.js dist/bpmn-navigated-viewer.production.min.js dist/assets
dmn-js@17.10.2   LICENSE dist/dmn-modeler.production.min.js dist/assets
chart.js@4.6.1   LICENSE.md dist/chart.umd.min.js
"

command -v npm >/dev/null 2>&1 || { echo "npm is needed to update the vendored bundles" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

while read -r spec files; do
  [ -n "$spec" ] || continue
  name="${spec%@*}"
  version="${spec##*@}"
  echo "vendoring $name $version"
  (cd "$WORK" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$WORK/$name"
  tar xzf "$WORK/$name-$version.tgz" -C "$WORK/$name"
  target="$DEST/$name"
  rm -rf "$target"
  mkdir -p "$target"
  for file in $files; do
    mkdir -p "$target/$(dirname "$file")"
    cp -R "$WORK/$name/package/$file" "$target/$file"
  done
  echo "$version" > "$target/VERSION"
done <<< "$TABLE"

echo "done: see ui/static/vendor/VENDOR.md (update the versions there too)"
