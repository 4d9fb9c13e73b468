-- The real-estate application's tables, as its own migrations create them. Guardrail does not own
-- these tables: it manages their row-level security and grants (policies/). The demo and the
-- integration tests load this file into a fresh database before planning.
--
-- Every tenant-scoped table has tenant_id uuid NOT NULL; the application sets
-- app.current_tenant_id on each connection, and the policies compare the two.

-- The role the API connects as. Roles are cluster-wide, so creating it tolerates a concurrent or
-- earlier creation (two databases on one server both loading this file).
DO $$
BEGIN
    CREATE ROLE app_user LOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

CREATE TABLE public.properties (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    apn text,
    address text,
    list_price numeric(12, 2),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.ownership (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    property_id uuid REFERENCES public.properties (id) ON DELETE CASCADE,
    owner_name text,
    acquired_on date
);

CREATE TABLE public.prospects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    property_id uuid REFERENCES public.properties (id) ON DELETE SET NULL,
    contact_email text,
    score integer
);

CREATE TABLE public.leases (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    property_id uuid REFERENCES public.properties (id) ON DELETE CASCADE,
    starts_on date,
    ends_on date,
    monthly_rent numeric(10, 2)
);

CREATE TABLE public.offers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    property_id uuid REFERENCES public.properties (id) ON DELETE CASCADE,
    amount numeric(12, 2),
    status text NOT NULL DEFAULT 'draft'
);

CREATE TABLE public.pipeline_state (
    property_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    stage text NOT NULL DEFAULT 'new',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Partitioned by month: row-level security on the parent governs every query through it.
CREATE TABLE public.timeline_entries (
    id bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id uuid NOT NULL,
    property_id uuid,
    kind text NOT NULL DEFAULT 'note',
    body text,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE public.timeline_entries_2025 PARTITION OF public.timeline_entries
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE public.timeline_entries_default PARTITION OF public.timeline_entries DEFAULT;

-- Platform-wide tables: no row-level security, only grants. dlq_messages notes the tenant a failed
-- message came from, but ops replays the queue across tenants, so it is deliberately not isolated.
CREATE TABLE public.platform_metrics (
    name text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    value double precision NOT NULL,
    PRIMARY KEY (name, recorded_at)
);

CREATE TABLE public.dlq_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid,
    payload jsonb NOT NULL DEFAULT '{}',
    failed_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
