#!/usr/bin/env python3
"""Writes a large Guardrail configuration for scripts/bench: tenants in the DESIGN shape, plus the
`local` environment. Deterministic, so runs compare. Also writes tenants.csv for the COPY floor."""
import argparse, os, uuid

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--flags", type=int, default=0, help="also write N feature flags and their guardrails")
    ap.add_argument("--rls-tables", type=int, default=100)
    args = ap.parse_args()
    os.makedirs(f"{args.out}/manifests", exist_ok=True)
    os.makedirs(f"{args.out}/environments", exist_ok=True)
    regions = ["us-east", "us-west", "eu-west"]
    tiers = ["starter", "growth", "enterprise"]
    # At most 25,000 tenants per file, as a team would split them (and under the default 16 MiB limit).
    per_file = 25000
    def tenants_file(i):
        if args.tenants <= per_file:
            return f"{args.out}/manifests/tenants.yaml"
        return f"{args.out}/manifests/tenants-{i // per_file:02d}.yaml"
    f = None
    with open(f"{args.out}/tenants.csv", "w") as csv:
        for i in range(args.tenants):
            if i % per_file == 0:
                if f: f.close()
                f = open(tenants_file(i), "w")
            tid = uuid.uuid5(uuid.NAMESPACE_URL, f"guardrail-bench/{i}")
            cohort = "internal" if i == 0 else "customer"
            f.write(f"""---
apiVersion: guardrail/v1
kind: Tenant
metadata:
  name: brokerage-{i:05d}
  labels: {{cohort: {cohort}, region: {regions[i % 3]}, tier: {tiers[i % 3]}}}
spec:
  id: {tid}
  displayName: Brokerage {i:05d} Realty
  status: active
""")
            csv.write(f'brokerage-{i:05d},{tid},Brokerage {i:05d} Realty,active,"{{""cohort"": ""{cohort}"", ""region"": ""{regions[i % 3]}"", ""tier"": ""{tiers[i % 3]}""}}"\n')
        if f: f.close()
    with open(f"{args.out}/manifests/backups.yaml", "w") as f:
        f.write("""apiVersion: guardrail/v1
kind: BackupSchedule
metadata: {name: nightly}
spec:
  schedule: "0 2 * * *"
  timezone: UTC
  retention: {keep: 1000}
  rpo: 26h
  restoreDrill:
    schedule: "0 4 * * 0"
    checks:
      rowCounts: [{table: guardrail.tenants, min: 1}]
      rlsPolicies: true
""")
    extra = ['backups: {directory: "${GUARDRAIL_BACKUP_DIR}"}']
    if args.flags:
        extra.append('prometheus: {url: "${PROMETHEUS_URL:-http://127.0.0.1:9090}"}')
    write_environment(args.out, *extra)
    if args.flags:
        write_flags(args.out, args.flags)
    write_rls_estate(f"{args.out}/rls", args.rls_tables)
    write_alerts_estate(f"{args.out}/alerts-estate", groups=40, rules_per_group=5)

def write_flags(out, count):
    """A quarter of the flags mid-rollout, a quarter disabled with a rollout plan, half on for everyone. Every flag
    disables one tenant by override; enabled flags also enable one (an enable override on a disabled flag does nothing)."""
    with open(f"{out}/manifests/guardrails.yaml", "w") as f:
        for name, metric in (("bench-errors", "http_errors"), ("bench-bounces", "email_bounced")):
            f.write(f"""---
apiVersion: guardrail/v1
kind: Guardrail
metadata: {{name: {name}}}
spec:
  query: sum(rate({metric}_total{{tenant_id=~"{{{{cohort}}}}"}}[5m])) / sum(rate(requests_total{{tenant_id=~"{{{{cohort}}}}"}}[5m]))
  max: 0.02
  interval: 1s
  failures: 2
""")
    with open(f"{out}/manifests/flags.yaml", "w") as f:
        for i in range(count):
            kind = i % 4
            f.write(f"""---
apiVersion: guardrail/v1
kind: FeatureFlag
metadata: {{name: bench.flag-{i:03d}}}
spec:
  enabled: {"false" if kind == 1 else "true"}
  overrides: {{{"" if kind == 1 else f"enable: [brokerage-{(i * 7) % 100:05d}], "}disable: [brokerage-{(i * 13) % 100 + 100:05d}]}}
""")
            if kind < 2:
                f.write("""  rollout:
    phases:
      - {name: internal, tenants: {selector: {cohort: internal}}, bake: 1h}
      - {name: canary, percent: 5, bake: 2h}
      - {percent: 25, bake: 3h}
      - {percent: 50, bake: 4h}
      - {percent: 100}
    guardrails: [bench-errors, bench-bounces]
""")

def write_rls_estate(out, tables):
    """A separate configuration for the row-level security bench: `tables` tenant tables with two
    policies each (2 x tables policies), the SQL that creates the tables, and the `local` environment."""
    os.makedirs(f"{out}/policies", exist_ok=True)
    os.makedirs(f"{out}/environments", exist_ok=True)
    with open(f"{out}/schema.sql", "w") as sql, open(f"{out}/policies/rls.yaml", "w") as f:
        sql.write("DO $$ BEGIN CREATE ROLE bench_app; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;\n")
        for i in range(tables):
            sql.write(f"CREATE TABLE public.t{i:03d} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL, "
                      f"owner_id uuid, status text NOT NULL DEFAULT 'open', amount numeric, created_at timestamptz NOT NULL DEFAULT now());\n")
            f.write(f"""---
apiVersion: guardrail/v1
kind: RowLevelSecurity
metadata: {{name: public.t{i:03d}}}
spec:
  enabled: true
  forced: true
  searchPath: [public]
  policies:
    - name: tenant_isolation
      roles: [bench_app]
      using: tenant_id = current_setting('app.current_tenant_id')::uuid
      withCheck: tenant_id = current_setting('app.current_tenant_id')::uuid
    - name: open_recent
      command: select
      as: restrictive
      roles: [bench_app]
      using: status <> 'archived' AND created_at > now() - interval '{(i % 12) + 1} months' AND coalesce(amount, 0) >= {i}
""")
    write_environment(out)

def write_alerts_estate(out, groups, rules_per_group):
    """A separate configuration for the alert rules bench: `groups` groups of `rules_per_group` rules
    in 8 rule files, and the `local` environment with the prometheus target."""
    os.makedirs(f"{out}/alerts", exist_ok=True)
    os.makedirs(f"{out}/environments", exist_ok=True)
    files = 8
    for n in range(files):
        with open(f"{out}/alerts/service-{n}.yaml", "w") as f:
            f.write("groups:\n")
            for g in range(n, groups, files):
                f.write(f"  - name: group-{g:02d}\n    interval: 30s\n    rules:\n")
                for r in range(rules_per_group):
                    job = f"svc-{g:02d}-{r}"
                    if r == 0:
                        f.write(f'      - record: job:http_requests:rate5m_{g:02d}\n'
                                f'        expr: sum by (job, status) (rate(http_requests_total{{job="{job}"}}[5m]))\n')
                        continue
                    severity = "critical" if r % 2 else "warning"
                    f.write(f'      - alert: Service{g:02d}Rule{r}\n'
                            f'        expr: sum(rate(http_requests_total{{job="{job}", status=~"5.."}}[5m])) / sum(rate(http_requests_total{{job="{job}"}}[5m])) > 0.0{r}\n'
                            f'        for: {r}m\n'
                            f'        labels: {{severity: {severity}, team: team-{g % 5}}}\n'
                            f'        annotations: {{summary: "{{{{ $labels.job }}}} error rate above {r}%"}}\n')
    write_environment(out, 'prometheus: {url: "${PROMETHEUS_URL}"}', 'alerts: {target: prometheus, rulesDir: "${GUARDRAIL_RULES_DIR}"}')

def write_environment(out, *spec_lines):
    """environments/local.yaml: the database from DATABASE_URL, plus `spec_lines` under spec."""
    os.makedirs(f"{out}/environments", exist_ok=True)
    with open(f"{out}/environments/local.yaml", "w") as f:
        f.write('apiVersion: guardrail/v1\nkind: Environment\nmetadata: {name: local}\nspec:\n'
                '  postgres: {url: "${DATABASE_URL}", schema: guardrail, lockTimeout: 30s}\n')
        for line in spec_lines:
            f.write(f"  {line}\n")

if __name__ == "__main__":
    main()
