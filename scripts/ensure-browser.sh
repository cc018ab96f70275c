#!/usr/bin/env bash
# Browser tests drive Debian's headless Chromium (no browser download: the machine is offline
# except for package registries). Install it when it is missing and we are allowed to.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing Debian chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "chromium not found and cannot be installed here: browser tests will be skipped" >&2
fi
