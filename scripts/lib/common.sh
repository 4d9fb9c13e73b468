# Shared helpers for scripts/demo, scripts/test and scripts/bench. Source it; do not run it.
# Everything here starts servers on loopback ports inside temporary directories and never relies on
# anything a previous run left behind.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are missing (CI and fresh machines start with nothing extra).
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_build_dependencies() {
    ensure_packages libyaml-dev zlib1g-dev postgresql-15 postgresql-client-15
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 server binaries not found in $PG_BIN"
}

# pgBackRest from Debian, stunnel4 for TLS on loopback, and moto's standalone S3 server from PyPI
# (with boto3, which the scripts use to create buckets and read objects back).
ensure_pgbackrest() {
    ensure_packages pgbackrest stunnel4 openssl
    if ! python3 -c 'import moto.server, boto3' >/dev/null 2>&1; then
        log "installing moto[server] (PyPI) for the S3 repository tests"
        python3 -m pip install -q --disable-pip-version-check 'moto[server]' >/dev/null 2>&1 \
            || python3 -m pip install -q --disable-pip-version-check --break-system-packages 'moto[server]' >/dev/null \
            || die "pip could not install moto[server]"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the user that owns the throwaway cluster (initdb refuses to run as root).
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# start_postgres DIR: a private cluster in DIR on a free loopback port, with password authentication.
# Sets PGHOST PGPORT PG_DIR PG_SUPERUSER PG_PASSWORD and ADMIN_URL, and writes DIR/stop.
start_postgres() {
    PG_DIR=$1
    mkdir -p "$PG_DIR"
    PG_OS_USER=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        PG_OS_USER=postgres
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown "$PG_OS_USER" "$PG_DIR"
    fi
    PG_SUPERUSER=guardrail_admin
    PG_PASSWORD=$(python3 -c 'import secrets; print("pw-" + secrets.token_hex(12))')
    PGPORT=$(free_port)
    PGHOST=127.0.0.1
    local pwfile="$PG_DIR/.pw"
    printf '%s\n' "$PG_PASSWORD" > "$pwfile"
    chmod 600 "$pwfile"
    [ "$(id -u)" -eq 0 ] && chown "$PG_OS_USER" "$pwfile"
    as_pg_user "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_SUPERUSER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    PG_SERVER_OPTIONS="-c listen_addresses=127.0.0.1 -p $PGPORT -k $PG_DIR -c fsync=off -c max_connections=400"
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 -o "$PG_SERVER_OPTIONS" start >/dev/null \
        || { cat "$PG_DIR/postgres.log" >&2; die "postgres did not start"; }
    cat > "$PG_DIR/stop" <<STOP
#!/usr/bin/env bash
# Stops the throwaway Postgres started by Guardrail's scripts and removes its directory.
if [ "\$(id -u)" -eq 0 ]; then runuser -u $PG_OS_USER -- $PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop; else $PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop; fi
rm -rf $PG_DIR
STOP
    chmod +x "$PG_DIR/stop"
    ADMIN_URL="postgres://$PG_SUPERUSER:$PG_PASSWORD@127.0.0.1:$PGPORT/postgres?sslmode=disable"
    export PGHOST PGPORT PG_DIR PG_SUPERUSER PG_PASSWORD ADMIN_URL
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# psql as the superuser against database $1 (default postgres).
pg_psql() {
    local db=${1:-postgres}; shift || true
    PGPASSWORD=$PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U "$PG_SUPERUSER" -d "$db" "$@"
}

# build_guardrail [release|debug]: builds the CLI and sets GUARDRAIL to its path.
build_guardrail() {
    local config=${1:-debug}
    log "building guardrail ($config; the first build compiles dependencies and takes several minutes)"
    # Release builds link the Swift runtime statically: a command starts in half the time, which
    # counts for every CLI invocation (and in scripts/bench).
    local static=()
    [ "$config" = release ] && static=(--static-swift-stdlib)
    (cd "$ROOT" && swift build -c "$config" --product guardrail "${static[@]}" 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]' || true; }) >&2
    GUARDRAIL="$ROOT/.build/$config/guardrail"
    [ -x "$GUARDRAIL" ] || die "build failed"
    export GUARDRAIL
}

# wait_for_http URL SECONDS: polls until URL answers 200.
wait_for_http() {
    python3 - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        if urllib.request.urlopen(url, timeout=1).status == 200:
            sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

# start_prometheus DIR: Debian's Prometheus on a free loopback port, scraping every second a metrics
# endpoint that serves the *.prom files tests write into DIR/metrics, and loading rule files from
# DIR/rules (the directory Guardrail's alerts target owns). Sets PROMETHEUS_URL, METRICS_DIR and
# PROM_RULES_DIR, and writes DIR/stop.
start_prometheus() {
    PROM_DIR=$1
    ensure_packages prometheus
    mkdir -p "$PROM_DIR/metrics" "$PROM_DIR/data" "$PROM_DIR/rules"
    METRICS_DIR="$PROM_DIR/metrics"
    PROM_RULES_DIR="$PROM_DIR/rules"
    local metrics_port prom_port
    metrics_port=$(free_port)
    prom_port=$(free_port)
    python3 "$ROOT/scripts/lib/metrics-endpoint.py" "$METRICS_DIR" "$metrics_port" >"$PROM_DIR/metrics-endpoint.log" 2>&1 &
    echo $! > "$PROM_DIR/metrics-endpoint.pid"
    cat > "$PROM_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PROM_DIR/rules/*.yaml
scrape_configs:
  - job_name: guardrail-test
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YML
    prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
        --web.listen-address="127.0.0.1:$prom_port" --web.enable-lifecycle >"$PROM_DIR/prometheus.log" 2>&1 &
    echo $! > "$PROM_DIR/prometheus.pid"
    PROMETHEUS_URL="http://127.0.0.1:$prom_port"
    wait_for_http "$PROMETHEUS_URL/-/ready" 60 || { tail -20 "$PROM_DIR/prometheus.log" >&2; die "prometheus did not become ready"; }
    cat > "$PROM_DIR/stop" <<STOP
#!/usr/bin/env bash
# Stops the throwaway Prometheus and metrics endpoint started by Guardrail's scripts.
kill \$(cat $PROM_DIR/prometheus.pid) \$(cat $PROM_DIR/metrics-endpoint.pid) 2>/dev/null || true
STOP
    chmod +x "$PROM_DIR/stop"
    export PROMETHEUS_URL METRICS_DIR PROM_DIR PROM_RULES_DIR
}

stop_prometheus() {
    [ -n "${PROM_DIR:-}" ] && [ -x "$PROM_DIR/stop" ] && "$PROM_DIR/stop"
    return 0
}

# start_alertmanager DIR: Debian's Alertmanager (prometheus-alertmanager) on a free loopback port,
# clustering off, loading DIR/alertmanager.yml (the file Guardrail's alertmanager target owns).
# Sets ALERTMANAGER_URL and ALERTMANAGER_CONFIG, and writes DIR/stop.
start_alertmanager() {
    AM_DIR=$1
    ensure_packages prometheus-alertmanager
    mkdir -p "$AM_DIR/data"
    ALERTMANAGER_CONFIG="$AM_DIR/alertmanager.yml"
    printf 'route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n' > "$ALERTMANAGER_CONFIG"
    chmod 600 "$ALERTMANAGER_CONFIG"
    local am_port
    am_port=$(free_port)
    prometheus-alertmanager --config.file="$ALERTMANAGER_CONFIG" --storage.path="$AM_DIR/data" \
        --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$AM_DIR/alertmanager.log" 2>&1 &
    echo $! > "$AM_DIR/alertmanager.pid"
    ALERTMANAGER_URL="http://127.0.0.1:$am_port"
    wait_for_http "$ALERTMANAGER_URL/-/ready" 60 || { tail -20 "$AM_DIR/alertmanager.log" >&2; die "alertmanager did not become ready"; }
    cat > "$AM_DIR/stop" <<STOP
#!/usr/bin/env bash
# Stops the throwaway Alertmanager started by Guardrail's scripts.
kill \$(cat $AM_DIR/alertmanager.pid) 2>/dev/null || true
STOP
    chmod +x "$AM_DIR/stop"
    export ALERTMANAGER_URL ALERTMANAGER_CONFIG AM_DIR
}

stop_alertmanager() {
    [ -n "${AM_DIR:-}" ] && [ -x "$AM_DIR/stop" ] && "$AM_DIR/stop"
    return 0
}
