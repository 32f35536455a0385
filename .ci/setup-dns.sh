#!/usr/bin/env bash
# CI: install the authoritative DNS server that test/discovery.dns.test.ts runs on a
# loopback port (Debian's knot). Idempotent: does nothing when knotd is already there.
# The system service is NOT started (or left running): the test starts its own instance
# with its own config, zone and socket in a temporary directory.
set -euo pipefail

if command -v knotd >/dev/null 2>&1 || [ -x /usr/sbin/knotd ]; then
  echo "setup-dns: $(/usr/sbin/knotd --version 2>/dev/null || knotd --version) already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Keep the package's maintainer scripts from starting knot.service while installing
# (policy-rc.d exit 101 = "action forbidden"), unless a policy is already in place.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 0755 "$POLICY"
  OWN_POLICY=1
fi
cleanup() { if [ "$OWN_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends knot

# Belt and braces: if an init system started it anyway, stop it and keep it disabled.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now knot.service >/dev/null 2>&1 || true
fi

echo "setup-dns: installed $(/usr/sbin/knotd --version)"
