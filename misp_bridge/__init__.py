"""misp-bridge: Pandora FMS -> MISP alert plugin and MISP -> Microsoft Sentinel sync.

The folder tree is the architecture (docs/architecture.md has the whole map):

    cli.py        the one runner behind every tool: arguments, --version, help epilogs, exit codes
    entry.py      how each tool starts (top-level scripts and console scripts), a missing module said
    errors.py     every exception, grouped in one tree
    exitcodes.py  the exit codes and which error gives which
    config/       config.py + constants.py found (locate.py) and read -> frozen Settings (sync tools)
    output/       logging and secret redaction
    misp/         the one MISP client (PyMISP) and its error translation
    azure/        Entra ID tokens, Key Vault, and the one sender for Microsoft APIs (429, retries)
    pandora/      the alert plugin (pandora_to_misp.py)
    sync/         the sync (script.py, delete-from-azure.py)
    checkconfig/  check-config.py
    function/     the sync as an Azure Function (azure_function/ holds the app)

Where three questions readers ask are answered:

    what happens on HTTP 429 (and 5xx, timeouts, 401) from a Microsoft API   azure/http.py
    how a MISP attribute, a `domain|ip` one included, becomes a STIX pattern  sync/convert/patterns.py
    where the plugin's threat level is decided                                pandora/triage/classify.py
"""

__version__ = "0.1.0"
