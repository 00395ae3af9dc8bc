#!/usr/bin/env bash
# Installs what lbrprobe needs to build on a fresh Debian/Ubuntu machine, when it is missing.
# Needs root only when something is missing; then it runs apt-get itself.
set -euo pipefail
need=()
[ -f /usr/include/numa.h ] || need+=(libnuma-dev)
[ -f /usr/include/linux/kvm.h ] || need+=(linux-libc-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "lbrprobe setup: missing ${need[*]}; run as root or install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "lbrprobe setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi
command -v swift >/dev/null || { echo "lbrprobe setup: swift not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
