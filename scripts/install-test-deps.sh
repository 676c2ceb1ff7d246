#!/usr/bin/env bash
# Installs what the test suite needs from the OS (the tests run as root). Idempotent: on a machine
# that has everything it installs nothing.
#
# busybox-static and nginx are not used from the host (but for the runtime tests' busybox rootfs,
# runtimetest.BusyboxRootfs): test/images/build copies them (nginx with
# exactly the shared libraries it links) into skiff's own test images, so the tests need no registry.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc) # cgo: libcontainer's nsexec and skiff's shim (internal/runtime/libcontainer/shim)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
# libseccomp-dev: skiff builds with libseccomp (the Makefile's seccomp tag) so that containers get
# the default seccomp profile; it brings libseccomp2, which the binary links at run time.
for pkg in busybox-static nginx libseccomp-dev pkg-config; do
	installed "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	# The tests want nginx's files, not a host nginx on port 80: keep package scripts from starting
	# services, unless the machine already has its own policy (containers usually do).
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
