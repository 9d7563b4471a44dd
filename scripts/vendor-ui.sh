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
  "dmn-js@17.10.2  dmn-js  dist/assets"
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

# The modeler bundle: bpmn-js with bpmn-js-properties-panel, bpmn-js-bpmnlint and this
# product's properties provider and lint rules (ui/bundle-src/), bundled by esbuild into one
# production file (global RetentionModeler); and dmn-js's modeler built for production
# (global DmnJS: its dist "production" file carries Inferno's development build). BUILD pins every package it is made of; the
# licence of each is copied to LICENSES/, and esbuild keeps their licence comments at the
# end of the bundle. bpmn-js is the same version as the viewer's above.
BUILD=(
  "bpmn-js@18.31.1"
  "bpmn-js-properties-panel@5.65.3"
  "@bpmn-io/properties-panel@3.55.0"
  "bpmn-js-bpmnlint@0.23.0"
  "bpmnlint@11.15.0"
  "dmn-js@17.10.2"
  "esbuild@0.25.0"
)
OUT="$VENDOR/retention-modeler"
echo "== build ui/bundle-src -> ui/static/vendor/retention-modeler"
mkdir -p "$WORK/build"
(
  cd "$WORK/build"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --save-exact "${BUILD[@]}" >/dev/null
  cp -R "$ROOT/ui/bundle-src" src
  ./node_modules/.bin/esbuild src/modeler-bundle.js --bundle --minify --format=iife \
    --global-name=RetentionModeler --define:process.env.NODE_ENV='"production"' \
    --legal-comments=eof --target=es2019 --outfile=retention-modeler.min.js --log-level=warning
  ./node_modules/.bin/esbuild src/dmn-bundle.js --bundle --minify --format=iife \
    --global-name=DmnJS --footer:js='DmnJS=DmnJS.default;' \
    --define:process.env.NODE_ENV='"production"' \
    --legal-comments=eof --target=es2019 --outfile=dmn-modeler.min.js --log-level=warning
)
rm -rf "${OUT:?}"
mkdir -p "$OUT/LICENSES"
cp "$WORK/build/retention-modeler.min.js" "$WORK/build/dmn-modeler.min.js" "$OUT/"
cp "$WORK/build/node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css" "$OUT/"
cp "$WORK/build/node_modules/bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css" "$OUT/"
for pkg in "$WORK"/build/node_modules/* "$WORK"/build/node_modules/@*/*; do
  [ -f "$pkg/package.json" ] || continue
  name="${pkg#"$WORK"/build/node_modules/}"
  case "$name" in esbuild | @esbuild/*) continue ;; esac
  licence="$(find "$pkg" -maxdepth 1 -iname 'licen[cs]e*' | head -n 1)"
  [ -n "$licence" ] && cp "$licence" "$OUT/LICENSES/${name//\//__}.txt"
done
printf '%s\n' "${BUILD[@]}" >"$OUT/VERSION"
echo "done: review and commit ui/static/vendor/"
