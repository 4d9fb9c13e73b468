#!/usr/bin/env python3
"""Simulated platform traffic for the demo: every second, counters per tenant for email sends,
bounces, deliveries, complaints and API requests, written atomically to DIR/demo-traffic.prom
for the metrics endpoint Prometheus scrapes. The bounce ratio is read from DIR/../bounce-ratio
each second, so the demo can make email bounce and watch the rollout roll back.

    demo-traffic.py DIR TENANT_ID..."""
import os, sys, time

DIR, TENANTS = sys.argv[1], sys.argv[2:]
CONTROL = os.path.join(os.path.dirname(DIR.rstrip("/")), "bounce-ratio")
counters = {t: {"sent": 0.0, "bounced": 0.0, "delivered": 0.0, "complaints": 0.0, "ok": 0.0, "err": 0.0} for t in TENANTS}

while True:
    try:
        ratio = float(open(CONTROL).read().strip())
    except (OSError, ValueError):
        ratio = 0.005
    lines = []
    for tenant, c in counters.items():
        c["sent"] += 500
        c["bounced"] += 500 * ratio
        c["delivered"] += 500 * (1 - ratio)
        c["complaints"] += 0.02
        c["ok"] += 400
        c["err"] += 0.4
        lines += [
            f'email_sent_total{{tenant_id="{tenant}"}} {c["sent"]}',
            f'email_bounced_total{{tenant_id="{tenant}"}} {c["bounced"]}',
            f'email_delivered_total{{tenant_id="{tenant}"}} {c["delivered"]}',
            f'email_complaints_total{{tenant_id="{tenant}"}} {c["complaints"]}',
            f'http_requests_total{{job="realestate-api",tenant_id="{tenant}",status="200"}} {c["ok"]}',
            f'http_requests_total{{job="realestate-api",tenant_id="{tenant}",status="500"}} {c["err"]}',
        ]
    tmp = os.path.join(DIR, ".demo-traffic.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, os.path.join(DIR, "demo-traffic.prom"))
    time.sleep(1)
