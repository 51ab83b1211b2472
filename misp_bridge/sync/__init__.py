"""The MISP -> Microsoft Sentinel sync: MISP attributes become STIX 2.1 indicators Sentinel can match.

    cli.py, delete_cli.py   script.py and delete-from-azure.py (command.py: what both share)
    wiring.py               Settings -> a RunContext: MISP, and per workspace an uploader and a
                            management client, each Microsoft API with its own rate limiter
    context.py              the RunContext and what a run hands in (look-ups, clean-up passes)
    pipeline.py             one run: pending first, then MISP page by page -> state -> upload feeds
    deadline.py             when a run stops taking new work (its time budget, a lost lease)
    misp_source.py          MISP events and attributes, page by page
    convert/                MISP attribute -> STIX indicator (pure); convert/patterns.py says how each
                            MISP type, a `domain|ip` included, becomes a pattern
    indicator.py            the one record an indicator travels in
    feed.py                 per-workspace batches on a sender thread; records every answer in the state
    state/                  what Sentinel holds, what is pending, revoked; the run lock: one interface,
                            a SQLite file (script.py) or an Azure table (the Function)
    cleanup.py, lookup.py   revocation (to_ids changes, expiry, delete-from-azure); existing ids
    summary.py              the run's counters and its text and JSON forms

Uploads go through misp_bridge/azure/upload.py, whose requests (and so what happens on HTTP 429) are
misp_bridge/azure/http.py's.
"""
