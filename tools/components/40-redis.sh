#!/usr/bin/env bash
# Redis for the stream collector's latest-value sink tests (tests/realtime/test_redis_sink.py start their own
# redis-server on a free loopback port; nothing here starts a service).
set -u
. "$(dirname "$0")/lib.sh"
if command -v redis-server >/dev/null; then
  echo "components: redis-server found ($(redis-server --version | cut -d' ' -f3))"
  exit 0
fi
apt_install redis-server || exit 0
echo "components: redis-server installed"
