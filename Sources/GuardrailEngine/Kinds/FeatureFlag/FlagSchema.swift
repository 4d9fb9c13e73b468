/// The tables and the SQL function behind feature flags (schema version 2).
///
/// - `flags`: what the manifests declare, plus the kill switch, which only operators set.
/// - `guardrails`: the Guardrail objects rollouts evaluate.
/// - `flag_cohorts`: the ledger. One row per tenant a flag is on for, since when and why
///   (`override`, `phase 2 (canary)`, `full`, `pre-rollout`). A kill leaves it alone; `flag_enabled`
///   checks the kill switch, so a release restores exactly what was there.
/// - `rollouts`: the controller-owned state of each rollout (phase, status, guardrail streaks).
/// - `rollout_events`: every decision, with query, value, threshold, sample count and verdict. It
///   outlives the flag, so a deleted flag's history can still be read.
enum FlagSchema {
    @Sendable static func statements(_ s: SQLIdentifier) -> [String] {
        let flagEnabledBody = """

            BEGIN
                RETURN EXISTS (
                    SELECT 1 FROM \(s.qualifying("flag_cohorts")) c JOIN \(s.qualifying("flags")) f ON f.name = c.flag
                    WHERE c.flag = $1 AND c.tenant_id = $2 AND NOT f.killed
                );
            END

            """
        return [
            """
            CREATE TABLE \(s.qualifying("flags")) (
                name text PRIMARY KEY,
                description text NOT NULL DEFAULT '',
                enabled boolean NOT NULL,
                salt text NOT NULL,
                overrides_enable text[] NOT NULL DEFAULT '{}',
                overrides_disable text[] NOT NULL DEFAULT '{}',
                rollout jsonb CHECK (rollout IS NULL OR jsonb_typeof(rollout) = 'object'),
                killed boolean NOT NULL DEFAULT false,
                killed_at timestamptz,
                killed_by text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE \(s.qualifying("guardrails")) (
                name text PRIMARY KEY,
                query text NOT NULL,
                spec jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE \(s.qualifying("flag_cohorts")) (
                flag text NOT NULL REFERENCES \(s.qualifying("flags")) (name) ON DELETE CASCADE,
                tenant_id uuid NOT NULL,
                since timestamptz NOT NULL DEFAULT now(),
                reason text NOT NULL,
                PRIMARY KEY (flag, tenant_id)
            )
            """,
            """
            CREATE TABLE \(s.qualifying("rollouts")) (
                flag text PRIMARY KEY REFERENCES \(s.qualifying("flags")) (name) ON DELETE CASCADE,
                status text NOT NULL CHECK (status IN ('progressing', 'paused', 'completed', 'rolled-back')),
                phase integer NOT NULL CHECK (phase >= 0),
                phase_started_at timestamptz NOT NULL,
                reason text NOT NULL,
                spec_fingerprint text NOT NULL,
                baseline uuid[] NOT NULL DEFAULT '{}',
                tracks jsonb NOT NULL DEFAULT '{}',
                updated_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE \(s.qualifying("rollout_events")) (
                id bigserial PRIMARY KEY,
                flag text NOT NULL,
                at timestamptz NOT NULL DEFAULT clock_timestamp(),
                phase integer NOT NULL,
                kind text NOT NULL,
                actor text,
                guardrail text,
                query text,
                value double precision,
                threshold text,
                samples double precision,
                verdict text,
                message text NOT NULL
            )
            """,
            "CREATE INDEX ON \(s.qualifying("rollout_events")) (flag, id DESC)",
            // PL/pgSQL, not SQL: a SQL function whose body has a sub-select is never inlined and plans
            // that sub-select again on every call, while PL/pgSQL keeps the plan for the session. Each
            // call is then two primary-key probes.
            """
            CREATE FUNCTION \(s.qualifying("flag_enabled"))(flag text, tenant uuid) RETURNS boolean
            LANGUAGE plpgsql STABLE PARALLEL SAFE AS \(SQLIdentifier.dollarQuoted(flagEnabledBody))
            """,
        ]
    }
}
