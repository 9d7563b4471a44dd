#!/usr/bin/env bash
# Install everything and run the whole test suite: lint, types, tests on SQLite and,
# when a PostgreSQL URL is known (always under CI=true), the same tests on PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh" tesseract-ocr fonts-ocr-b chromium

ruff check src tests bench
ruff format --check src tests bench
mypy

if [ "${CI:-}" = "true" ] && [ -z "${RETENTION_FLOW_TEST_DATABASE_URL:-}" ]; then
  export RETENTION_FLOW_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
fi
PG_URL="${RETENTION_FLOW_TEST_DATABASE_URL:-}"

echo "== tests on SQLite"
RETENTION_FLOW_TEST_DATABASE_URL= python -m pytest -q "$@"
if [ -n "$PG_URL" ]; then
  echo "== tests on PostgreSQL"
  RETENTION_FLOW_TEST_DATABASE_URL="$PG_URL" python -m pytest -q "$@"
else
  echo "== PostgreSQL tests not run: set RETENTION_FLOW_TEST_DATABASE_URL=postgresql+psycopg://user@host/db"
fi
