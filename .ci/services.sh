# Sourced by .ci/run: install and start the services the tests need, on loopback only.
# Exports REDIS_URL and DATABASE_URL for the Redis and Postgres tests. Idempotent: reuses the
# servers an earlier run started.
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

# PostgreSQL: a throwaway cluster (initdb into a temp dir, pg_ctl start) on 127.0.0.1, owned by
# an unprivileged user because PostgreSQL refuses to run as root. Exports DATABASE_URL for the
# Postgres tests. Idempotent: reuses the cluster a previous run of this script started.
pg_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  # Debian's package keeps the server binaries off PATH, under the major version.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}
if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/initdb" ]; then
  echo "installing postgresql from Debian's packages"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  # The package may start (and later restart) its own cluster on 5432; it is not used here.
fi
pg_bin="$(pg_bindir)"
export CHATHOOKS_PG_BINDIR="$pg_bin"
if [ "$(id -u)" = 0 ]; then
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
  fi
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
pg_port_base="${CHATHOOKS_CI_PG_PORT:-5439}"
pg_port=""
for p in $(seq "$pg_port_base" $((pg_port_base + 20))); do
  d="/tmp/chathooks-ci-pg-$p"
  if [ -f "$d/data/PG_VERSION" ] && as_pg "$pg_bin/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
    pg_port="$p"   # ours, from an earlier run: reuse it
    break
  fi
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    rm -rf "$d"
    mkdir -p "$d"
    [ "$(id -u)" = 0 ] && chown postgres "$d"
    as_pg "$pg_bin/initdb" -D "$d/data" -U chathooks --auth=trust --encoding=UTF8 --no-locale \
      >"$d/initdb.log" 2>&1 || { cat "$d/initdb.log"; return 1 2>/dev/null || exit 1; }
    as_pg "$pg_bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -c port=$p -c unix_socket_directories=$d -c max_connections=200" \
      start >/dev/null || { cat "$d/server.log"; return 1 2>/dev/null || exit 1; }
    pg_port="$p"
    break
  fi
done
if [ -z "$pg_port" ]; then
  echo "no free port for PostgreSQL in $pg_port_base..$((pg_port_base + 20))"
  return 1 2>/dev/null || exit 1
fi
"$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port"
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U chathooks -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'chathooks'" | grep -q 1 ||
  "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U chathooks chathooks
export DATABASE_URL="postgres://chathooks@127.0.0.1:$pg_port/chathooks"
echo "DATABASE_URL=$DATABASE_URL"
