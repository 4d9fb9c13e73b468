#!/usr/bin/env python3
"""Writes a large Guardrail configuration for scripts/bench: tenants in the DESIGN shape, plus the
`local` environment. Deterministic, so runs compare. Also writes tenants.csv for the COPY floor."""
import argparse, os, uuid

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rls-tables", type=int, default=100)
    args = ap.parse_args()
    os.makedirs(f"{args.out}/manifests", exist_ok=True)
    os.makedirs(f"{args.out}/environments", exist_ok=True)
    regions = ["us-east", "us-west", "eu-west"]
    tiers = ["starter", "growth", "enterprise"]
    with open(f"{args.out}/manifests/tenants.yaml", "w") as f, open(f"{args.out}/tenants.csv", "w") as csv:
        for i in range(args.tenants):
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
    with open(f"{args.out}/environments/local.yaml", "w") as f:
        f.write("""apiVersion: guardrail/v1
kind: Environment
metadata: {name: local}
spec:
  postgres: {url: "${DATABASE_URL}", schema: guardrail, lockTimeout: 30s}
""")

    write_rls_estate(f"{args.out}/rls", args.rls_tables)

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
    with open(f"{out}/environments/local.yaml", "w") as f:
        f.write("""apiVersion: guardrail/v1
kind: Environment
metadata: {name: local}
spec:
  postgres: {url: "${DATABASE_URL}", schema: guardrail, lockTimeout: 30s}
""")

if __name__ == "__main__":
    main()
