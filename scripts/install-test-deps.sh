#!/usr/bin/env bash
# Installs what the test suite needs from the OS (the tests run as root). Idempotent: on a machine
# that has everything it installs nothing.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
