# Sourced by .ci/run: install and start the services the tests need, on loopback only.
# Exports REDIS_URL for the Redis tests. Idempotent: reuses a running server.
redis_port="${CHATHOOKS_CI_REDIS_PORT:-6390}"
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server from Debian's packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
    --logfile "/tmp/chathooks-ci-redis-$redis_port.log"
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
redis-cli -h 127.0.0.1 -p "$redis_port" ping
export REDIS_URL="redis://127.0.0.1:$redis_port/"
