"""The Pandora FMS alert plugin: turns one SIEM alert into a triaged MISP event.

Pipeline: argv -> `Alert` -> `iocs.extract` -> `triage.classify` -> `event.build` -> `publish.send`.
"""
