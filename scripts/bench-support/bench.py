#!/usr/bin/env python3
"""Benchmark driver for scripts/bench. Every Guardrail time is the median of several runs and is
printed next to a floor measured in the same run on the same machine, as a ratio.

Expects: GUARDRAIL (binary), YAML_EVENTS (floor parser), ESTATE (generated configuration),
PGHOST/PGPORT/PG_SUPERUSER/PG_PASSWORD (the throwaway server)."""
import os, statistics, subprocess, sys, tempfile, time

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
G = os.environ["GUARDRAIL"]
YE = os.environ["YAML_EVENTS"]
ESTATE = os.environ["ESTATE"]
PG = dict(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user=os.environ["PG_SUPERUSER"], password=os.environ["PG_PASSWORD"])
results = []
# (name, bytes per tenant, ceiling in bytes)
memory_rows = []

def url(db):
    return f"postgres://{PG['user']}:{PG['password']}@{PG['host']}:{PG['port']}/{db}?sslmode=disable"

def psql(db, *args, stdout=subprocess.DEVNULL):
    env = dict(os.environ, PGPASSWORD=PG["password"])
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db, *args]
    subprocess.run(cmd, env=env, check=True, stdout=stdout)

def psql_value(db, sql):
    """The one value `sql` returns, as text."""
    out = subprocess.run(["psql", "-X", "-A", "-t", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", db, "-c", sql],
                         env=dict(os.environ, PGPASSWORD=PG["password"]), capture_output=True, text=True)
    return out.stdout.strip()

def start_controller(replica, env, cwd):
    """`guardrail controller` on a free loopback port; returns the process and its base URL."""
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    proc = subprocess.Popen([G, "controller", "--env", "local", "--listen", f"127.0.0.1:{port}", "--replica", replica], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"

def stop_controller(proc):
    """SIGTERM, as an orchestrator stops it; SIGKILL if it has not exited after 20 s."""
    import signal
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()

def recreate(db):
    psql("postgres", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql("postgres", "-c", f"CREATE DATABASE {db}")

def run(cmd, env=None, ok=(0,), cwd=None):
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd or ESTATE)
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

def paired(fn, floor_fn, setup=None, floor_setup=None, runs=RUNS):
    """Medians of `fn` and `floor_fn`, run alternately, so a burst of load on this shared machine
    lands on both sides of a ratio instead of on one. One untimed run of each first warms caches."""
    samples, floor_samples = [], []
    for i in range(runs + 1):
        for f, setup_f, out in ((fn, setup, samples), (floor_fn, floor_setup, floor_samples)):
            if setup_f: setup_f()
            start = time.perf_counter()
            f()
            if i: out.append(time.perf_counter() - start)
    return statistics.median(samples), statistics.median(floor_samples)

def peak_rss_kib(cmd, env=None, cwd=None):
    """The peak resident memory of one run of `cmd`, in KiB, from the kernel's accounting of that child."""
    p = subprocess.Popen(cmd, env=env, cwd=cwd or ESTATE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        sys.stderr.write(err)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return usage.ru_maxrss

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
    dump = os.path.join(out, "floor.dump")
    backup_t, floor_dump_t = paired(lambda: run([G, "backup", "run", "nightly", "--env", "local"], env),
                                    lambda: run([f"{bindir}/pg_dump", "--format=custom", f"--file={dump}", "--dbname=bench_apply"], pgenv),
                                    runs=max(RUNS, 9))
    report("backup run: pg_dump of the estate", backup_t, floor_dump_t, "pg_dump -Fc alone", 1.2)
    def floor_restore():
        psql("postgres", "-c", "DROP DATABASE IF EXISTS bench_restore")
        psql("postgres", "-c", "CREATE DATABASE bench_restore")
        run([f"{bindir}/pg_restore", "--dbname=bench_restore", "--exit-on-error", dump], pgenv)
        psql("postgres", "-c", "DROP DATABASE bench_restore WITH (FORCE)")
    drill_t, floor_restore_t = paired(lambda: run([G, "backup", "drill", "nightly", "--env", "local"], env), floor_restore)
    report("backup drill: restore and check", drill_t, floor_restore_t, "createdb + pg_restore + dropdb", 1.2)
    shutil.rmtree(out, ignore_errors=True)

def bench_pgbackrest(genv):
    """backup run of an incr pgbackrest schedule versus pgbackrest backup run directly, and the RTO of
    backup restore --to a time versus pgbackrest restore + pg_ctl start + waiting for promotion by hand."""
    import shutil
    root = os.environ["BENCH_DIR"] + "/pgbackrest"
    user, pg_dir, bindir = os.environ["PG_OS_USER"], os.environ["PG_DIR"], os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
    as_user = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    for d in ("repo", "log", "lock", "spool"):
        os.makedirs(f"{root}/{d}", exist_ok=True)
    passphrase = "bench-" + os.urandom(12).hex()
    common = f"repo1-path={root}/repo\nrepo1-cipher-type=aes-256-cbc\nlog-path={root}/log\nlock-path={root}/lock\nspool-path={root}/spool\nstart-fast=y\n"
    with open(f"{root}/server.conf", "w") as f:
        f.write(f"[global]\n{common}repo1-cipher-pass={passphrase}\n[main]\npg1-path={pg_dir}/data\npg1-socket-path={pg_dir}\npg1-user={PG['user']}\npg1-port={PG['port']}\n")
    os.chmod(f"{root}/server.conf", 0o600)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", user, root], check=True)
    psql("postgres", "-c", "ALTER SYSTEM SET archive_mode = on", "-c",
         f"ALTER SYSTEM SET archive_command = 'pgbackrest --config={root}/server.conf --stanza=main archive-push %p'")
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", f"{pg_dir}/data", "-m", "fast", "-w", "restart", "-l", f"{pg_dir}/postgres.log"],
                   check=True, stdout=subprocess.DEVNULL)
    floor_backup = [*as_user, "pgbackrest", f"--config={root}/server.conf", "--stanza=main"]
    run([*floor_backup, "stanza-create"])
    run([*floor_backup, "--type=full", "backup"])
    ws = tempfile.mkdtemp(prefix="guardrail-bench-pitr-")
    os.chmod(ws, 0o755)
    os.makedirs(f"{ws}/manifests")
    shutil.copytree(os.path.join(ESTATE, "environments"), f"{ws}/environments")
    env_file = f"{ws}/environments/local.yaml"
    text = open(env_file).read().rstrip("\n") + "\n"
    # The estate's environment writes backups in flow style; the pgBackRest block needs the block style.
    text = text.replace('  backups: {directory: "${GUARDRAIL_BACKUP_DIR}"}\n', '  backups:\n    directory: "${GUARDRAIL_BACKUP_DIR}"\n')
    if "  backups:\n" not in text:
        text += "  backups:\n"
    text = text.replace("  backups:\n", "  backups:\n" + (
        f"    pgbackrest:\n      stanza: main\n      pgPath: {pg_dir}/data\n"
        f"      repo: {{type: posix, path: {root}/repo, cipherType: aes-256-cbc}}\n      cipherPassEnv: BENCH_CIPHER_PASS\n"
        + (f"      osUser: {user}\n" if os.geteuid() == 0 else "")
        + f"      options: {{log-path: {root}/log, lock-path: {root}/lock, pg1-socket-path: {pg_dir}, start-fast: \"y\"}}\n"), 1)
    open(env_file, "w").write(text)
    with open(f"{ws}/manifests/pitr.yaml", "w") as f:
        f.write("apiVersion: guardrail/v1\nkind: BackupSchedule\nmetadata: {name: hourly-incr}\n"
                "spec: {schedule: \"0 * * * *\", timezone: UTC, method: pgbackrest, type: incr, retention: {full: 2}, rpo: 5m, rto: 5m}\n")
    env = dict(genv, BENCH_CIPHER_PASS=passphrase)
    run([G, "apply", "--env", "local", "--auto-approve", "--target", "backup.hourly-incr"], env, cwd=ws)
    incr_t, floor_incr_t = paired(lambda: run([G, "backup", "run", "hourly-incr", "--env", "local"], env, cwd=ws),
                                  lambda: run([*floor_backup, "--type=incr", "backup"]))
    report("backup run (pgbackrest incr)", incr_t, floor_incr_t, "pgbackrest backup --type=incr", 1.2)

    into = f"{ws}/restored"
    primary_connections = psql_value("postgres", "SHOW max_connections")
    target = psql_value("bench_apply", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    psql("bench_apply", "-c", "CREATE TABLE IF NOT EXISTS public.bench_pitr (x int)", "-c", "INSERT INTO public.bench_pitr VALUES (1)",
         "-c", "SELECT pg_switch_wal()")
    time.sleep(2)
    pg_target = target.replace("T", " ").replace("Z", "+00")
    def discard():
        if os.path.exists(f"{into}/postmaster.pid"):
            subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", into, "-m", "immediate", "-w", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(into, ignore_errors=True)
    def floor_restore():
        os.mkdir(into, 0o700)
        if os.geteuid() == 0:
            subprocess.run(["chown", user, into], check=True)
        run([*floor_backup, f"--pg1-path={into}", "--type=time", f"--target={pg_target}", "--target-action=promote", "--archive-mode=off", "restore"])
        port = str(50000 + os.getpid() % 10000)
        # Recovery needs at least the primary's max_connections (recorded in pg_control).
        run([*as_user, f"{bindir}/pg_ctl", "-D", into, "-l", f"{into}/restore.log", "-w", "-o",
             f"-c listen_addresses=127.0.0.1 -p {port} -k {into} -c archive_mode=off -c max_connections={primary_connections}", "start"])
        penv = dict(os.environ, PGPASSWORD=PG["password"])
        while subprocess.run(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", port, "-U", PG["user"], "-d", "postgres", "-c",
                              "SELECT pg_is_in_recovery()"], env=penv, capture_output=True, text=True).stdout.strip() != "f":
            time.sleep(0.2)
    restore_t, floor_restore_t = paired(lambda: run([G, "backup", "restore", "--env", "local", "--to", target, "--into", into], env, cwd=ws),
                                        floor_restore, setup=discard, floor_setup=discard, runs=3)
    discard()
    report("backup restore --to a time (RTO)", restore_t, floor_restore_t, "pgbackrest restore + pg_ctl start + promotion", 1.2)
    psql("postgres", "-c", "ALTER SYSTEM RESET archive_command", "-c", "ALTER SYSTEM RESET archive_mode")
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", f"{pg_dir}/data", "-m", "fast", "-w", "restart", "-l", f"{pg_dir}/postgres.log"],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(ws, ignore_errors=True)

RLS_CATALOG_QUERY = """
SET search_path = '';
SELECT n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_catalog.pg_get_userbyid(c.relowner),
       p.polname, p.polcmd, p.polpermissive, p.polroles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_policy p ON p.polrelid = c.oid
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""

def rls_row():
    """Plan with no changes over 100 tables and 200 policies (canonicalization included), against
    psql reading the same catalog rows."""
    rls = os.path.join(ESTATE, "rls")
    if not os.path.isdir(rls):
        return
    recreate("bench_rls")
    psql("bench_rls", "-f", os.path.join(rls, "schema.sql"))
    renv = dict(os.environ, DATABASE_URL=url("bench_rls"), NO_COLOR="1")
    def in_rls(cmd, ok=(0,)):
        p = subprocess.run(cmd, env=renv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=rls)
        if p.returncode not in ok:
            sys.stderr.write(p.stderr.decode())
            raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}")
    in_rls([G, "apply", "--env", "local", "--auto-approve"])
    in_rls([G, "plan", "--env", "local", "--detailed-exitcode"])  # converged: exit 0, or this fails
    plan_t, floor_t = paired(lambda: in_rls([G, "plan", "--env", "local", "--detailed-exitcode"]),
                             lambda: psql("bench_rls", "-c", RLS_CATALOG_QUERY))
    tables = sum(1 for line in open(os.path.join(rls, "schema.sql")) if line.startswith("CREATE TABLE"))
    report(f"plan: no changes, {2 * tables} policies/{tables} tables", plan_t, floor_t, "psql reading the same catalog rows", 3.0)

def bench_breach():
    """#4's latency target: a breach turns the cohort off within one evaluation interval plus 2 s of
    Prometheus first showing it. A controller drives a rollout whose guardrail reads a metric this
    bench controls (scraped every second); each sample flips the metric, waits until a query of the
    live Prometheus shows the breach, then until the flag's cohort in Postgres is empty."""
    import json, shutil, urllib.parse, urllib.request
    prom, metrics = os.environ.get("PROMETHEUS_URL"), os.environ.get("METRICS_DIR")
    if not prom or not metrics:
        return
    root = os.path.join(os.environ.get("BENCH_DIR", "/tmp"), "breach-estate")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "manifests"))
    with open(os.path.join(root, "manifests", "tenants.yaml"), "w") as f:
        for i in range(21):
            cohort = "internal" if i == 0 else "customer"
            f.write(f"---\napiVersion: guardrail/v1\nkind: Tenant\nmetadata: {{name: t{i:02d}, labels: {{cohort: {cohort}}}}}\n"
                    f"spec: {{id: 00000000-0000-4000-8000-{i:012d}, displayName: T{i}}}\n")
    interval = 1.0
    with open(os.path.join(root, "manifests", "flags.yaml"), "w") as f:
        f.write("apiVersion: guardrail/v1\nkind: Guardrail\nmetadata: {name: bench-errors}\n"
                f"spec: {{query: 'max(guardrail_bench_error_ratio)', max: 0.05, interval: {int(interval)}s, failures: 1}}\n"
                "---\napiVersion: guardrail/v1\nkind: FeatureFlag\nmetadata: {name: bench.breach}\nspec:\n  enabled: true\n  rollout:\n"
                "    phases:\n      - {name: internal, tenants: {selector: {cohort: internal}}, bake: 1h}\n      - {percent: 100}\n"
                "    guardrails: [bench-errors]\n    onBreach: rollback\n")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from generate_estate import write_environment
    write_environment(root, 'prometheus: {url: "${PROMETHEUS_URL}"}', "controller: {interval: 1s}")
    metric = os.path.join(metrics, "bench-breach.prom")
    def set_ratio(value):
        with open(metric + ".tmp", "w") as f:
            f.write(f"guardrail_bench_error_ratio {value}\n")
        os.rename(metric + ".tmp", metric)
    def prometheus_value():
        q = urllib.parse.urlencode({"query": "max(guardrail_bench_error_ratio)"})
        try:
            result = json.load(urllib.request.urlopen(f"{prom}/api/v1/query?{q}", timeout=2))["data"]["result"]
            return float(result[0]["value"][1]) if result else None
        except Exception:
            return None
    def cohort():
        return int(psql_value("bench_breach", "SELECT count(*) FROM guardrail.flag_cohorts WHERE flag = 'bench.breach'") or "-1")
    def wait(condition, seconds, what):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if condition():
                return time.time()
            time.sleep(0.05)
        raise SystemExit(f"breach bench: timed out waiting for {what}")
    set_ratio(0.0)
    wait(lambda: prometheus_value() == 0.0, 30, "Prometheus to scrape the healthy metric")
    recreate("bench_breach")
    benv = dict(os.environ, DATABASE_URL=url("bench_breach"), NO_COLOR="1")
    run([G, "apply", "--env", "local", "--auto-approve"], benv, cwd=root)
    proc, _ = start_controller("bench-breach", benv, root)
    latencies = []
    try:
        for sample in range(max(3, RUNS // 2)):
            if sample:
                set_ratio(0.0)
                wait(lambda: prometheus_value() == 0.0, 30, "Prometheus to show the metric healthy again")
                run([G, "rollout", "retry", "bench.breach", "--env", "local"], benv, cwd=root)
            wait(lambda: cohort() == 1, 30, "the internal phase's cohort")
            time.sleep(2 * interval)  # a few healthy evaluations first
            set_ratio(0.5)
            shown = wait(lambda: (prometheus_value() or 0) > 0.05, 30, "Prometheus to show the breach")
            off = wait(lambda: cohort() == 0, 30, "the rollback to turn the cohort off")
            latencies.append(off - shown)
    finally:
        stop_controller(proc)
        if os.path.exists(metric):
            os.remove(metric)
    report("breach to cohort off (after Prometheus shows it)", statistics.median(latencies), interval, "the guardrail's interval (1s)",
           (interval + 2.0,))

def bench_controller():
    """The controller on the large estate (tenants, 100 flags, 200 RLS policies, 200 alert rules):
    a no-change tick's duration and resident memory, and OFREP single evaluations under load from a
    second process (wrk) against a trivial endpoint of the same server."""
    import json, re, shutil, urllib.request
    fe, est = os.environ.get("FLAGS_ESTATE"), os.path.join(ESTATE, "alerts-estate")
    if not fe or not os.path.isdir(os.path.join(ESTATE, "rls")) or not os.path.isdir(est):
        return []
    root = os.path.join(os.environ.get("BENCH_DIR", "/tmp"), "controller-estate")
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(os.path.join(fe, "manifests"), os.path.join(root, "manifests"))
    os.remove(os.path.join(root, "manifests", "backups.yaml"))
    shutil.copytree(os.path.join(ESTATE, "rls", "policies"), os.path.join(root, "policies"))
    shutil.copytree(os.path.join(est, "alerts"), os.path.join(root, "alerts"))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from generate_estate import write_environment
    write_environment(root, 'prometheus: {url: "${PROMETHEUS_URL}"}', 'alerts: {target: prometheus, rulesDir: "${GUARDRAIL_RULES_DIR}"}',
                      'controller: {interval: 1s, drift: {tenant: enforce, flag: enforce, guardrail: enforce, rls: enforce, grants: enforce, alerts: enforce}}')
    recreate("bench_ctl")
    psql("bench_ctl", "-f", os.path.join(ESTATE, "rls", "schema.sql"))
    cenv = dict(os.environ, DATABASE_URL=url("bench_ctl"), NO_COLOR="1", GUARDRAIL_RULES_DIR=os.environ["PROM_RULES_DIR"])
    run([G, "apply", "--env", "local", "--auto-approve"], cenv, cwd=root)
    run([G, "plan", "--env", "local", "--detailed-exitcode"], cenv, cwd=root)  # converged, or this fails
    proc, base = start_controller("bench", cenv, root)
    def wait_for_status(url, key, seconds=60):
        """Polls /v1/status until it has `key` (the first tick, the flag snapshot)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if json.load(urllib.request.urlopen(url + "/v1/status", timeout=2)).get(key):
                    return
            except Exception:
                pass
            time.sleep(0.2)
    try:
        wait_for_status(base, "lastTick")
        deadline = time.time() + 60
        durations, seen, steps = [], set(), {}
        while len(durations) < max(5, RUNS) and time.time() < deadline + 60:
            tick = json.load(urllib.request.urlopen(base + "/v1/status", timeout=2)).get("lastTick") or {}
            if tick.get("startedAt") and tick["startedAt"] not in seen:
                seen.add(tick["startedAt"])
                if not tick.get("errors") and len(seen) > 1:  # the first tick loads the manifests
                    durations.append(tick["durationSeconds"])
                    for step, secs in (tick.get("stepSeconds") or {}).items():
                        steps.setdefault(step, []).append(secs)
            time.sleep(0.3)
        rss_kb = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{proc.pid}/status").read()).group(1))
        floor_t = timed(lambda: psql("bench_ctl", "-c", "SELECT name, id, display_name, status, labels FROM guardrail.tenants"))
        split = ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in sorted(steps.items()))
        report("controller: no-change tick", statistics.median(durations), floor_t, f"psql SELECT of the tenants; split: {split}", (0.150,))
        # OFREP is served by every replica; load a standby, as applications would, so the leader's
        # ticks do not compete with the load on this two-core machine.
        reader, rbase = start_controller("bench-reader", cenv, root)
        try:
            wait_for_status(rbase, "flags")
            lua = os.path.join(os.environ.get("BENCH_DIR", "/tmp"), "ofrep.lua")
            with open(lua, "w") as f:
                f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                        'wrk.body = \'{"context":{"targetingKey":"brokerage-00042"}}\'\n')
            def wrk(path, script=None):
                cmd = ["wrk", "-t1", "-c4", "-d2s", "--latency"] + (["-s", script] if script else []) + [rbase + path]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
                p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
                p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
                return rps, p99_ms
            # Three short runs of each, alternately, so both see the same moments of this machine.
            trivial, ofrep = [], []
            for _ in range(3):
                trivial.append(wrk("/ping"))
                ofrep.append(wrk("/ofrep/v1/evaluate/flags/bench.flag-002", lua))
            trivial_rps, trivial_p99 = statistics.median(r for r, _ in trivial), statistics.median(p for _, p in trivial)
            ofrep_rps, ofrep_p99 = statistics.median(r for r, _ in ofrep), statistics.median(p for _, p in ofrep)
        finally:
            stop_controller(reader)
        rss_kb = max(rss_kb, int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{proc.pid}/status").read()).group(1)))
        report("OFREP single evaluation, p99 latency", ofrep_p99 / 1000, trivial_p99 / 1000, "GET /ping p99 on the same server", (0.005,))
        return [("OFREP single evaluations", ofrep_rps, trivial_rps, "GET /ping on the same server (4 connections)", 0.5),
                ("controller resident memory (MiB)", rss_kb / 1024, 100, "target 100 MiB", None)]
    finally:
        stop_controller(proc)

def alerts_row():
    """Plan with no changes over 200 rules in 40 groups, every expression checked by the live
    Prometheus, against one `curl GET /api/v1/rules` of the same server."""
    est = os.path.join(ESTATE, "alerts-estate")
    prom = os.environ.get("PROMETHEUS_URL")
    if not os.path.isdir(est) or not prom:
        return
    recreate("bench_alerts")
    aenv = dict(os.environ, DATABASE_URL=url("bench_alerts"), NO_COLOR="1", GUARDRAIL_RULES_DIR=os.environ["PROM_RULES_DIR"])
    run([G, "apply", "--env", "local", "--auto-approve"], aenv, cwd=est)
    run([G, "plan", "--env", "local", "--detailed-exitcode"], aenv, cwd=est)  # converged: exit 0, or this fails
    plan_t = timed(lambda: run([G, "plan", "--env", "local", "--detailed-exitcode"], aenv, cwd=est))
    floor_t = timed(lambda: run(["curl", "-sf", "-o", "/dev/null", prom + "/api/v1/rules"]))
    rules = sum(open(os.path.join(est, "alerts", f)).read().count("expr:") for f in os.listdir(os.path.join(est, "alerts")))
    # The target is absolute: under 1 second, expressions checked included.
    report(f"plan: no changes, {rules} alert rules", plan_t, floor_t, "curl GET /api/v1/rules", (1.0,))

def main():
    files = yaml_files()
    only = os.environ.get("BENCH_ONLY")  # e.g. BENCH_ONLY=controller runs one group, for quick iteration
    if only == "controller":
        rates = bench_controller()
        return print_results(files, rates)
    if only == "flags":
        return print_results(files, bench_flags())
    if only == "breach":
        bench_breach()
        return print_results(files, [])
    if only == "scale":
        genv = dict(os.environ, NO_COLOR="1", GUARDRAIL_BACKUP_DIR="/nonexistent-set-per-bench")
        bench_scale(genv)
        return print_results(files, [])
    if only == "pitr":
        genv = dict(os.environ, DATABASE_URL=url("bench_apply"), NO_COLOR="1", GUARDRAIL_BACKUP_DIR="/nonexistent-set-per-bench")
        bench_apply(genv, files)
        bench_pgbackrest(genv)
        return print_results(files, [])
    genv = dict(os.environ, DATABASE_URL=url("bench_apply"), NO_COLOR="1", GUARDRAIL_BACKUP_DIR="/nonexistent-set-per-bench")
    bench_apply(genv, files)
    if only == "apply":
        return print_results(files, [])

    # plan with no changes against the applied estate.
    def floor_plan():
        run([YE, *files])
        psql("bench_apply", "-c", "SELECT name, id, display_name, status, labels FROM guardrail.tenants")
    plan_t, floor_plan_t = paired(lambda: run([G, "plan", "--env", "local", "--detailed-exitcode"], genv), floor_plan)
    report("plan: no changes, 10,000 tenants", plan_t, floor_plan_t, "libyaml events + psql SELECT", 2.0)

    rls_row()
    alerts_row()

    validate_t, floor_parse_t = paired(lambda: run([G, "validate"], genv), lambda: run([YE, *files]))
    report("validate: offline decode", validate_t, floor_parse_t, "libyaml events", 3.0)

    bench_scale(genv)
    bench_backups(genv)
    bench_pgbackrest(genv)
    bench_breach()
    rates = bench_flags() if os.environ.get("FLAGS_ESTATE") else []
    rates += bench_controller()
    print_results(files, rates)

def bench_scale(genv):
    """The same rows on an estate of BENCH_SCALE_TENANTS tenants (100,000 by default): validate, plan with
    no changes and apply of new tenants, each alternately with its floor, and the peak memory of plan
    and apply per tenant. Growth must stay linear: the targets are the 10,000-tenant ones."""
    n = int(os.environ.get("BENCH_SCALE_TENANTS", "100000"))
    estate = os.path.join(os.environ.get("BENCH_DIR", tempfile.gettempdir()), f"estate-{n}")
    if not os.path.isdir(estate):
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "generate_estate.py"), "--tenants", str(n), "--out", estate], check=True)
    files = [os.path.join(estate, folder, f) for folder in ("manifests", "policies", "alerts", "environments")
             if os.path.isdir(os.path.join(estate, folder)) for f in sorted(os.listdir(os.path.join(estate, folder))) if f.endswith((".yaml", ".yml"))]
    label = f"{n:,} tenants"
    senv = dict(genv, DATABASE_URL=url("bench_scale"))
    runs = max(3, RUNS - 2)
    g = lambda *args, ok=(0,): run([G, *args], senv, ok=ok, cwd=estate)

    validate_t, parse_t = paired(lambda: g("validate"), lambda: run([YE, *files], cwd=estate), runs=runs)
    report(f"validate: {label}", validate_t, parse_t, "libyaml events", 3.0)

    floor_table = ("CREATE TABLE tenants (name text PRIMARY KEY, id uuid NOT NULL UNIQUE, display_name text NOT NULL, "
                   "status text NOT NULL, labels jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())")
    copy = f"\\copy tenants (name, id, display_name, status, labels) FROM '{estate}/tenants.csv' CSV"
    recreate("bench_scale")
    g("apply", "--auto-approve", "--env", "local")
    def emptied():
        psql("bench_scale", "-c", "DO $$ DECLARE t text; BEGIN FOR t IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
             "WHERE schemaname = 'guardrail' AND tablename <> 'schema_migrations' AND tablename <> 'kind_migrations' "
             "LOOP EXECUTE 'TRUNCATE ' || t || ' CASCADE'; END LOOP; END $$")
    def floor_apply_setup():
        recreate("bench_scale_floor")
        psql("bench_scale_floor", "-c", floor_table)
    def floor_apply():
        run([YE, *files], cwd=estate)
        psql("bench_scale_floor", "-c", copy)
    apply_t, floor_apply_t = paired(lambda: g("apply", "--env", "local", "--auto-approve"), floor_apply, setup=emptied,
                                    floor_setup=floor_apply_setup, runs=runs)
    report(f"apply: {label} new", apply_t, floor_apply_t, "libyaml events + psql COPY", 3.0)

    def floor_plan():
        run([YE, *files], cwd=estate)
        psql("bench_scale", "-c", "SELECT name, id, display_name, status, labels FROM guardrail.tenants")
    plan_t, floor_plan_t = paired(lambda: g("plan", "--env", "local", "--detailed-exitcode"), floor_plan, runs=runs)
    report(f"plan: no changes, {label}", plan_t, floor_plan_t, "libyaml events + psql SELECT", 2.0)

    plan_kib = peak_rss_kib([G, "plan", "--env", "local", "--detailed-exitcode"], senv, cwd=estate)
    emptied()
    apply_kib = peak_rss_kib([G, "apply", "--env", "local", "--auto-approve"], senv, cwd=estate)
    memory_rows.append((f"plan: peak memory per tenant, {label}", plan_kib * 1024 / n, 1.5 * 1024))
    memory_rows.append((f"apply: peak memory per tenant, {label}", apply_kib * 1024 / n, 1.5 * 1024))

def bench_apply(genv, files):
    """apply of the estate: new tenants, a saved plan of them, and a first apply that creates the schema.
    Leaves the estate applied in bench_apply for the rows after it."""
    floor_table = ("CREATE TABLE tenants (name text PRIMARY KEY, id uuid NOT NULL UNIQUE, display_name text NOT NULL, "
                   "status text NOT NULL, labels jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())")
    copy = f"\\copy tenants (name, id, display_name, status, labels) FROM '{ESTATE}/tenants.csv' CSV"
    apply = lambda: run([G, "apply", "--env", "local", "--auto-approve"], genv)

    # apply of 10,000 new tenants into a database Guardrail already manages, as the floor's table
    # already exists: the estate applied once, then every table emptied (the schema and its
    # migrations stay).
    recreate("bench_apply")
    apply()
    def emptied():
        psql("bench_apply", "-c", "DO $$ DECLARE t text; BEGIN FOR t IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
             "WHERE schemaname = 'guardrail' AND tablename <> 'schema_migrations' LOOP EXECUTE 'TRUNCATE ' || t || ' CASCADE'; END LOOP; END $$")
    def floor_apply_setup():
        recreate("bench_floor")
        psql("bench_floor", "-c", floor_table)
    def floor_apply():
        run([YE, *files])
        psql("bench_floor", "-c", copy)
    apply_t, floor_apply_t = paired(apply, floor_apply, setup=emptied, floor_setup=floor_apply_setup, runs=max(RUNS, 7))
    report("apply: 10,000 new tenants", apply_t, floor_apply_t, "libyaml events + psql COPY", 3.0)

    # apply of a saved plan: re-planned under the lock and compared change by change with the file
    # before the same writes, so it is held to plain apply's target. Saving the plan is set-up.
    saved_plan = os.path.join(tempfile.gettempdir(), "guardrail-bench-plan.json")
    def emptied_and_planned():
        emptied()
        run([G, "plan", "--env", "local", "--out", saved_plan], genv)
    saved_t, floor_saved_t = paired(lambda: run([G, "apply", "--env", "local", saved_plan], genv), floor_apply,
                                    setup=emptied_and_planned, floor_setup=floor_apply_setup, runs=max(RUNS, 7))
    report("apply plan.json: 10,000 tenants", saved_t, floor_saved_t, "libyaml events + psql COPY", 3.0)

    # The first apply to a database that has never seen Guardrail: its schema is created in the same
    # transaction. The floor creates its table inside the timing too.
    def floor_first_apply():
        run([YE, *files])
        psql("bench_floor", "-c", floor_table, "-c", copy)
    first_t, floor_first_t = paired(apply, floor_first_apply, setup=lambda: recreate("bench_apply"),
                                    floor_setup=lambda: recreate("bench_floor"), runs=max(RUNS, 7))
    report("apply: first apply, schema created", first_t, floor_first_t, "libyaml events + CREATE TABLE + COPY", 3.0)

def print_results(files, rates):
    tenants_lines = sum(1 for _ in open(os.path.join(ESTATE, "manifests/tenants.yaml")))
    print(f"\nEstate: {tenants_lines:,} lines of tenant YAML in {len(files)} files; median of {RUNS} runs each.\n")
    print(f"{'measure':40} {'guardrail':>10} {'floor':>10}  {'ratio':>6}  {'target':>7}  floor is")
    for name, value, floor, floor_name, ratio, target in results:
        if isinstance(target, tuple):  # an absolute target, in seconds
            mark = "ok" if value <= target[0] else "OVER"
            print(f"{name:40} {value:9.3f}s {floor:9.3f}s  {ratio:5.2f}x  {'<' + str(target[0]) + 's':>7}  {floor_name}  [{mark}]")
            continue
        mark = "ok" if ratio <= target else "OVER"
        print(f"{name:40} {value:9.3f}s {floor:9.3f}s  {ratio:5.2f}x  {'<=' + str(target) + 'x':>7}  {floor_name}  [{mark}]")

    for name, value, ceiling in memory_rows:
        mark = "ok" if value <= ceiling else "OVER"
        print(f"{name:40} {value / 1024:8.2f}KiB {'':10}  {'':6}  {'<=' + str(ceiling / 1024) + 'KiB':>7}  kernel's peak RSS / tenants  [{mark}]")

    for name, value, floor, floor_name, target in rates:
        ratio = value / floor if floor > 0 else 0.0
        if target is None:  # a ceiling: the value must stay under the floor column
            mark = "ok" if value <= floor else "OVER"
            print(f"{name:40} {value:10.1f} {floor:10.1f}  {ratio:5.2f}x  {'<=1.0x':>7}  {floor_name}  [{mark}]")
            continue
        mark = "ok" if ratio >= target else "UNDER"
        print(f"{name:40} {value:8.0f}/s {floor:8.0f}/s  {ratio:5.2f}x  {'>=' + str(target) + 'x':>7}  {floor_name}  [{mark}]")

def pgbench_tps(db, script, seconds):
    path = os.path.join(os.environ.get("BENCH_DIR", "/tmp"), "pgbench.sql")
    with open(path, "w") as f:
        f.write(script)
    env = dict(os.environ, PGPASSWORD=PG["password"])
    out = subprocess.run([os.path.join(os.environ["PG_BIN"], "pgbench"), "-n", "-M", "prepared", "-c", "2", "-j", "2", "-T", str(seconds), "-f", path,
                          "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], db], env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise SystemExit("pgbench printed no tps line:\n" + out)

def bench_flags():
    """100 flags over the same estate: plan, one rollout tick, and flag_enabled against a primary-key lookup."""
    fe = os.environ["FLAGS_ESTATE"]
    fenv = dict(os.environ, DATABASE_URL=url("bench_flags"), NO_COLOR="1")
    recreate("bench_flags")
    run([G, "apply", "--env", "local", "--auto-approve"], fenv)  # the tenants-only estate first
    # The tenants-only plan runs against the same database, alternately with the 100 new flags plan.
    # Once the flags are applied it would plan their deletion, so the later rows use its median.
    tenants_only = lambda: run([G, "plan", "--env", "local", "--detailed-exitcode"], fenv)
    changes_t, tenants_plan_t = paired(lambda: run([G, "plan", "--env", "local"], fenv, cwd=fe), tenants_only, runs=max(RUNS, 9))
    report("plan: 100 new flags, cohort previews", changes_t, tenants_plan_t, "tenants-only plan (no changes)", 1.5)
    run([G, "apply", "--env", "local", "--auto-approve"], fenv, cwd=fe)
    flags_plan_t = timed(lambda: run([G, "plan", "--env", "local", "--detailed-exitcode"], fenv, cwd=fe))
    report("plan: no changes, + 100 flags", flags_plan_t, tenants_plan_t, "tenants-only plan (no changes)", 1.5)
    tick_t = timed(lambda: run([G, "rollout", "tick", "--env", "local"], fenv, cwd=fe))
    report("rollout tick: 50 rollouts, 100 flags", tick_t, tenants_plan_t, "tenants-only plan (no changes)", 1.5)
    psql("bench_flags", "-c", "CREATE TABLE bench_ids AS SELECT row_number() OVER (ORDER BY id)::int AS i, id FROM guardrail.tenants; "
         "ALTER TABLE bench_ids ADD PRIMARY KEY (i); ANALYZE")
    n = int(psql_value("bench_flags", "SELECT count(*) FROM bench_ids"))
    seconds = int(os.environ.get("BENCH_PGBENCH_SECONDS", "6"))
    head = f"\\set i random(1, {n})\n"
    flag_sql = head + "SELECT guardrail.flag_enabled('bench.flag-002', b.id) FROM bench_ids b WHERE b.i = :i;\n"
    pk_sql = head + ("SELECT EXISTS (SELECT 1 FROM guardrail.flag_cohorts c WHERE c.flag = 'bench.flag-002' "
                     "AND c.tenant_id = b.id) FROM bench_ids b WHERE b.i = :i;\n")
    # Three short runs of each, alternately, so both rates see the same moments of this machine.
    flag_runs, pk_runs = [], []
    for _ in range(3):
        flag_runs.append(pgbench_tps("bench_flags", flag_sql, max(1, seconds // 3)))
        pk_runs.append(pgbench_tps("bench_flags", pk_sql, max(1, seconds // 3)))
    flag_tps, pk_tps = statistics.median(flag_runs), statistics.median(pk_runs)
    return [("flag_enabled calls", flag_tps, pk_tps, "primary-key lookup, same table", 0.5)]

if __name__ == "__main__":
    main()
