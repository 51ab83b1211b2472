"""The Pandora FMS alert plugin: turns one SIEM alert into a triaged MISP event, never losing it.

Pipeline: argv -> `intake` -> the alert kept in the spool -> `assemble` (iocs, triage, event) -> `publish`.

    intake.py    whatever argv the shell produced, read back into the alert's fields
    cli.py       pandora_to_misp.py's options and the run (write-ahead, send, replay, exit code)
    places.py    where the spool and the log are (beside the script, the system paths, the user's own)
    spool.py     every alert on disk until MISP has it (locked records, trusted directories only)
    assemble.py  a kept alert -> its event (now, or at replay with its own first-seen time)
    iocs/        the attacker's address and other indicators in the alert text
    triage/      rules -> techniques, category, IOC side; triage/classify.py is where the threat level
                 is decided (the highest of the matching rules)
    event.py     the MISP event for one alert, and its duplicate-window uuid (pure)
    storable.py  text as MISP can store it (utf8mb3, 65,535 bytes)
    publish.py   sending one alert or a sighting, the replay, and what each failure means for a record
    watchdog.py  the time budget, the watchdog on every MISP call, SIGTERM
    rx.py        RE2: every pattern applied to alert text, linear time
"""
