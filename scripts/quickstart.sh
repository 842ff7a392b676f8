#!/usr/bin/env bash
# Quick start: set everything up, start a headless KStars/Ekos with the INDI simulators (the
# sandbox) in a fresh state directory, and run ekos-occult on the sample night against it.
#   bash scripts/quickstart.sh
# Leaves the sandbox running so you can explore it; stop it with the command printed at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
VENV="${EKOS_OCCULT_VENV:-$ROOT/.venv}"
EO="$VENV/bin/ekos-occult"
CONFIG="$ROOT/sample_sequences/config.toml"   # the sample night's site (50° N 10° E) and rules
EVENTS="$ROOT/sample_sequences/tonight.csv"
STATE_DIR="${EKOS_OCCULT_SANDBOX:-$(mktemp -d /tmp/ekos-occult-sandbox.XXXXXX)}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

say "Starting the sandbox in $STATE_DIR"
"$EO" --config "$CONFIG" sandbox start --state-dir "$STATE_DIR"
eval "$("$EO" sandbox start --print-env --state-dir "$STATE_DIR")"

say "Loading the sample night, moved to the next dark hours, into Ekos"
# The sample night (sample_sequences/tonight.csv) is 2023-02-08; Ekos marks a job set in the past
# Invalid, so its events are moved to the next dark hours at the sample site, near the meridian.
TONIGHT="$STATE_DIR/sample-tonight.csv"
"$VENV/bin/python" "$ROOT/scripts/sample_night.py" "$EVENTS" "$CONFIG" "$TONIGHT"
"$EO" --config "$CONFIG" load "$TONIGHT" --state-dir "$STATE_DIR" --out "$STATE_DIR/night"

say "A picture of Ekos' Scheduler with the loaded jobs"
SHOT="$STATE_DIR/scheduler.png"
"$EO" sandbox screenshot --tab scheduler "$SHOT" --state-dir "$STATE_DIR"

say "The sandbox"
"$EO" sandbox status --state-dir "$STATE_DIR"
cat >&2 <<EOT

The sandbox keeps running. Talk to it from this shell with:
    eval "\$($EO sandbox start --print-env --state-dir $STATE_DIR)"
Stop it with:
    $EO sandbox stop --state-dir $STATE_DIR
Ekos' Scheduler with the sample night's jobs: $SHOT
(another tab: $EO sandbox screenshot --tab capture FILE.png --state-dir $STATE_DIR)
EOT
