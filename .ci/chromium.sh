#!/usr/bin/env bash
# Debian's headless Chromium for the report tests (tests/test_report.py, the docs site tests), as root.
#
#   bash .ci/chromium.sh
#
# Installs the chromium package when /usr/bin/chromium is absent (apt-get update; apt-get install -y
# chromium), then checks that it starts headless. Idempotent. Fails soft: when apt or root is
# unavailable it says why on stderr and exits 0; the browser tests then skip with that reason.
set -u
say() { echo "chromium.sh: $*" >&2; }
soft_fail() { say "$*; the headless browser tests will be skipped"; exit 0; }

if ! command -v chromium >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || soft_fail "needs root to apt-get install chromium"
    command -v apt-get >/dev/null 2>&1 || soft_fail "apt-get is not available"
    export DEBIAN_FRONTEND=noninteractive
    say "installing chromium with apt-get"
    timeout 600 apt-get update -q -o DPkg::Lock::Timeout=120 >&2 || soft_fail "apt-get update failed"
    timeout 1200 apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 chromium fonts-dejavu-core >&2 \
        || soft_fail "apt-get install chromium failed"
fi
profile=$(mktemp -d)
if timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
        --dump-dom "data:text/html,<p>ok</p>" 2>/dev/null | grep -q "<p>ok</p>"; then
    say "$(chromium --version 2>/dev/null) starts headless"
else
    say "chromium is installed but did not render a page headless"
fi
rm -rf "$profile"
exit 0
