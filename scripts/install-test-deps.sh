#!/usr/bin/env bash
# Installs what the test suite needs from the OS (the tests run as root). Idempotent: on a machine
# that has everything it installs nothing.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc)                       # cgo: libcontainer's nsexec, skiff's shim
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static) # the runtime tests' rootfs (static /bin/busybox)
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
