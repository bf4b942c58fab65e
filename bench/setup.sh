#!/usr/bin/env bash
# Installs the benchmark peers and load generators (Debian packages).
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk hey nginx-light prometheus-blackbox-exporter curl util-linux
