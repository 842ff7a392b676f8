#!/usr/bin/env bash
# Set up everything ekos-occult needs on Debian 12 / Ubuntu 22.04+, idempotently:
#   - the apt packages (KStars, INDI with its simulators, a virtual X server, D-Bus tools,
#     astrometry.net's Tycho-2 index files for plate solving and the sandbox's stars),
#   - a virtualenv in .venv with ekos-occult installed in editable mode plus the test tools.
# Run from anywhere: bash scripts/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EKOS_OCCULT_VENV:-$ROOT/.venv}"
# Tycho-2 index files (series 08/09, 117 MB): the plate solver's index and the sandbox's stars.
# The sandbox's windows: xdotool (shows Ekos, closes its first-start wizard, clicks a tab for
# `sandbox screenshot`), x11vnc (`sandbox start --vnc`), breeze-icon-theme (KStars' icons).
PACKAGES=(kstars indi-bin xvfb xauth dbus-x11 locales python3-venv python3-pip
    astrometry-data-tycho2-08-littleendian astrometry-data-tycho2-09-littleendian
    xdotool x11vnc breeze-icon-theme)
# Locales generated for `ekos-occult sandbox start --lang de` (KStars in German; kstars-data ships
# the translations).
LOCALES=(de_DE.UTF-8)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt packages already installed: ${PACKAGES[*]}"
        return
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "Need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    say "Installing apt packages: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

generate_locales() {
    local loc missing=0 sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    for loc in "${LOCALES[@]}"; do
        if ! locale -a 2>/dev/null | grep -qix "${loc/UTF-8/utf8}"; then
            say "Enabling the locale $loc in /etc/locale.gen"
            $sudo sed -i "s/^# *${loc} UTF-8/${loc} UTF-8/" /etc/locale.gen
            grep -q "^${loc} UTF-8" /etc/locale.gen || echo "${loc} UTF-8" | $sudo tee -a /etc/locale.gen >/dev/null
            missing=1
        fi
    done
    if [ "$missing" -eq 1 ]; then
        say "Generating locales: ${LOCALES[*]}"
        $sudo locale-gen
    fi
}

install_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "Creating the virtualenv $VENV"
        python3 -m venv "$VENV"
    fi
    say "Installing ekos-occult (editable) with its test tools into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
}

if command -v dpkg-query >/dev/null; then
    install_packages
    generate_locales
else
    say "Not a Debian/Ubuntu system: install KStars, INDI (indiserver + simulators), Xvfb and dbus yourself."
fi
install_python
say "Setup done: $VENV/bin/ekos-occult"
