#!/usr/bin/env bash
# Install Debian packages unless PATH_THAT_PROVES_IT already exists.
# Usage: scripts/apt-install.sh PATH_THAT_PROVES_IT PACKAGE...
# Where apt is missing (macOS, other distros) it says what to do instead and carries on: the
# commands that need the files then fail with their own clear message.
set -euo pipefail
proof=$1; shift
[ -e "$proof" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: $proof is missing and apt-get is not available; install $* yourself" \
         "(Fashion-MNIST can also come from 'blurfuse data --data-root DIR' or '--download')." >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
