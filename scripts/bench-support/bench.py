#!/usr/bin/env python3
"""Benchmark driver for scripts/bench. Every Guardrail time is the median of several runs and is
printed next to a floor measured in the same run on the same machine, as a ratio.

Expects: GUARDRAIL (binary), YAML_EVENTS (floor parser), ESTATE (generated configuration),
PGHOST/PGPORT/PG_SUPERUSER/PG_PASSWORD (the throwaway server)."""
import os, statistics, subprocess, sys, time

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
G = os.environ["GUARDRAIL"]
YE = os.environ["YAML_EVENTS"]
ESTATE = os.environ["ESTATE"]
PG = dict(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user=os.environ["PG_SUPERUSER"], password=os.environ["PG_PASSWORD"])
results = []

def url(db):
    return f"postgres://{PG['user']}:{PG['password']}@{PG['host']}:{PG['port']}/{db}?sslmode=disable"

def psql(db, *args, stdout=subprocess.DEVNULL):
    env = dict(os.environ, PGPASSWORD=PG["password"])
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db, *args]
    subprocess.run(cmd, env=env, check=True, stdout=stdout)

def recreate(db):
    psql("postgres", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql("postgres", "-c", f"CREATE DATABASE {db}")

def run(cmd, env=None, ok=(0,)):
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ESTATE)
    if p.returncode not in ok:
        sys.stderr.write(p.stderr.decode())
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}")

def timed(fn, setup=None, runs=RUNS):
    samples = []
    for _ in range(runs):
        if setup: setup()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)

def report(name, value, floor, floor_name, target):
    ratio = value / floor if floor > 0 else float("inf")
    results.append((name, value, floor, floor_name, ratio, target))

def yaml_files():
    files = []
    for folder in ("manifests", "policies", "alerts", "environments"):
        d = os.path.join(ESTATE, folder)
        if os.path.isdir(d):
            files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith((".yaml", ".yml"))]
    return files

def bench_backups(genv):
    """backup run and drill versus plain pg_dump and pg_restore of the same database."""
    import shutil, tempfile
    bindir = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    out = tempfile.mkdtemp(prefix="guardrail-bench-backups-")
    env = dict(genv, GUARDRAIL_BACKUP_DIR=out)
    pgenv = dict(os.environ, PGPASSWORD=PG["password"], PGHOST=PG["host"], PGPORT=PG["port"], PGUSER=PG["user"])
    backup_t = timed(lambda: run([G, "backup", "run", "nightly", "--env", "local"], env))
    dump = os.path.join(out, "floor.dump")
    floor_dump_t = timed(lambda: run([f"{bindir}/pg_dump", "--format=custom", f"--file={dump}", "--dbname=bench_apply"], pgenv))
    report("backup run: pg_dump of the estate", backup_t, floor_dump_t, "pg_dump -Fc alone", 1.2)
    drill_t = timed(lambda: run([G, "backup", "drill", "nightly", "--env", "local"], env), runs=max(3, RUNS // 2))
    def floor_restore():
        psql("postgres", "-c", "DROP DATABASE IF EXISTS bench_restore")
        psql("postgres", "-c", "CREATE DATABASE bench_restore")
        run([f"{bindir}/pg_restore", "--dbname=bench_restore", "--exit-on-error", dump], pgenv)
        psql("postgres", "-c", "DROP DATABASE bench_restore WITH (FORCE)")
    floor_restore_t = timed(floor_restore, runs=max(3, RUNS // 2))
    report("backup drill: restore and check", drill_t, floor_restore_t, "createdb + pg_restore + dropdb", 1.2)
    shutil.rmtree(out, ignore_errors=True)

def main():
    files = yaml_files()
    genv = dict(os.environ, DATABASE_URL=url("bench_apply"), NO_COLOR="1", GUARDRAIL_BACKUP_DIR="/nonexistent-set-per-bench")
    tenants_lines = sum(1 for _ in open(os.path.join(ESTATE, "manifests/tenants.yaml")))

    # apply of 10,000 new tenants, each run into a fresh database.
    apply_t = timed(lambda: run([G, "apply", "--env", "local", "--auto-approve"], genv), setup=lambda: recreate("bench_apply"))
    def floor_apply_setup():
        recreate("bench_floor")
        psql("bench_floor", "-c", "CREATE TABLE tenants (name text PRIMARY KEY, id uuid NOT NULL UNIQUE, display_name text NOT NULL, "
             "status text NOT NULL, labels jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())")
    def floor_apply():
        run([YE, *files])
        psql("bench_floor", "-c", f"\\copy tenants (name, id, display_name, status, labels) FROM '{ESTATE}/tenants.csv' CSV")
    floor_apply_t = timed(floor_apply, setup=floor_apply_setup)
    report("apply: 10,000 new tenants", apply_t, floor_apply_t, "libyaml events + psql COPY", 3.0)

    # plan with no changes against the applied estate.
    run([G, "apply", "--env", "local", "--auto-approve"], genv)  # bench_apply holds the estate now
    plan_t = timed(lambda: run([G, "plan", "--env", "local", "--detailed-exitcode"], genv))
    def floor_plan():
        run([YE, *files])
        psql("bench_apply", "-c", "SELECT name, id, display_name, status, labels FROM guardrail.tenants")
    floor_plan_t = timed(floor_plan)
    report("plan: no changes, 10,000 tenants", plan_t, floor_plan_t, "libyaml events + psql SELECT", 3.0)

    validate_t = timed(lambda: run([G, "validate"], genv))
    floor_parse_t = timed(lambda: run([YE, *files]))
    report("validate: offline decode", validate_t, floor_parse_t, "libyaml events", 3.0)

    bench_backups(genv)

    print(f"\nEstate: {tenants_lines:,} lines of tenant YAML in {len(files)} files; median of {RUNS} runs each.\n")
    print(f"{'measure':40} {'guardrail':>10} {'floor':>10}  {'ratio':>6}  {'target':>7}  floor is")
    for name, value, floor, floor_name, ratio, target in results:
        mark = "ok" if ratio <= target else "OVER"
        print(f"{name:40} {value:9.3f}s {floor:9.3f}s  {ratio:5.2f}x  {'<=' + str(target) + 'x':>7}  {floor_name}  [{mark}]")

if __name__ == "__main__":
    main()
