#!/usr/bin/env bash
# Install everything, prepare the embedded SQLite database with demo data, serve.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" fonts-ocr-b
retention-flow db upgrade
retention-flow demo
exec retention-flow serve "$@"
