"""The Pandora FMS alert plugin: turns one SIEM alert into a triaged MISP event.

Pipeline: argv -> `Alert` -> `iocs.extract` -> `triage.classify` -> `event.build_event` -> `publish.deliver`.

    cli.py       pandora_to_misp.py's arguments and the run
    iocs/        the attacker's address and other indicators in the alert text
    triage/      rules -> techniques, category, IOC side; triage/classify.py is where the threat level
                 is decided (the highest of the matching rules)
    event.py     the MISP event for one alert, and its duplicate-window uuid (pure)
    publish.py   replay the spool, then send the event or a sighting, within the time budget
    spool.py     alerts kept on disk while MISP cannot take them
"""
