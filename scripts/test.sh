#!/usr/bin/env bash
# Set everything up, then run the whole test suite, end-to-end tests against a real headless
# KStars/Ekos included (they fail, never skip, if KStars cannot start).
#   bash scripts/test.sh [extra pytest arguments]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" || exit $?
VENV="${EKOS_OCCULT_VENV:-$ROOT/.venv}"
cd "$ROOT"
echo "==> ruff (lint and format) and mypy --strict" >&2
"$VENV/bin/ruff" check . || exit $?
"$VENV/bin/ruff" format --check . || exit $?
"$VENV/bin/mypy" || exit $?
echo "==> ekos-occult --help (the first command a new user runs)" >&2
"$VENV/bin/ekos-occult" --help >/dev/null || exit $?
"$VENV/bin/python" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here." >&2
    exit 1
fi
exit "$rc"
