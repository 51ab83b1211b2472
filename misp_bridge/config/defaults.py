"""Every default in one place: config.py settings, the constants.py tables, and setting vocabularies.

SETTING_DEFAULTS is what an absent config.py setting means; BUILTIN_CONSTANTS is what an absent
constants.py (or a table it leaves out) means, and must stay equal to the project's constants.py (a test
compares the two). Everything else that needs a default (the conversion options, the Sentinel clients)
takes it from here through Settings, never from a literal of its own.
"""

from __future__ import annotations

from typing import Any

_HASHES = (
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ssdeep",
    "tlsh",
    "imphash",
    "authentihash",
    "impfuzzy",
    "pehash",
    "vhash",
)

_ACCEPTED_TYPES = (
    "ip-src",
    "ip-dst",
    "ip-src|port",
    "ip-dst|port",
    "domain",
    "hostname",
    "domain|ip",
    "hostname|port",
    "url",
    "uri",
    "mac-address",
    "AS",
    "email",
    "email-src",
    "email-dst",
    "email-subject",
    "filename",
    *_HASHES,
    *(f"filename|{h}" for h in _HASHES),
    "mutex",
    "regkey",
    "regkey|value",
    "user-agent",
    "x509-fingerprint-md5",
    "x509-fingerprint-sha1",
    "x509-fingerprint-sha256",
    "iban",
)

_TLP_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
_TLP_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
_TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
_TLP_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"

_CONFIDENCE_LEVELS = (
    ("completely-confident", 100),
    ("usually-confident", 75),
    ("fairly-confident", 50),
    ("rarely-confident", 25),
    ("unconfident", 0),
    ("confidence-cannot-be-evaluated", 50),
)

BUILTIN_CONSTANTS: dict[str, Any] = {
    "MISP_TAGS_IGNORE": (
        "misp:confidence-level=",
        "sentinel-threattype:",
        "kill-chain:",
        "tlp:",
        "misp-galaxy:",
    ),
    "MISP_ALLOWED_TAXONOMIES": (),
    "MISP_CONFIDENCE": {f'misp:confidence-level="{name}"': value for name, value in _CONFIDENCE_LEVELS},
    "MISP_CUSTOM_ATTRIBUTE": frozenset({"iban"}),
    "UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES": frozenset(_ACCEPTED_TYPES),
    "TLP_MARKING_OBJECT_DEFINITION": {
        "tlp:white": _TLP_WHITE,
        "tlp:clear": _TLP_WHITE,
        "tlp:green": _TLP_GREEN,
        "tlp:amber": _TLP_AMBER,
        "tlp:amber+strict": _TLP_AMBER,
        "tlp:red": _TLP_RED,
    },
    "SENTINEL_DEFAULT_THREATTYPE": "WatchList",
    "SENTINEL_DEFAULT_TLP": "tlp:white",
}

# The filters the README recommends; used when config.py has no misp_event_filters at all. (The
# original's list also has includeEventTags, which MISP's events search drops: events carry their tags.)
DEFAULT_EVENT_FILTERS: dict[str, Any] = {
    "published": 1,
    "tags": ['workflow:state="complete"'],
    "enforceWarninglist": True,
    "publish_timestamp": "14d",
}

# Filters the pager owns: a value in misp_event_filters would fight it, so it is dropped with a warning.
PAGER_FILTERS = {
    "limit": "misp_event_limit_per_page sets the page size",
    "page": "the sync pages through the results itself",
}

# Keys of one ms_auth workspace as config.py spells them -> Workspace field names.
WORKSPACE_KEYS = {
    "tenant": "tenant",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "workspace_id": "workspace_id",
    "new_upload_api": "new_upload_api",
    "scope": "scope",
    "subscription_id": "subscription_id",
    "resourceGroupName": "resource_group",
    "workspaceName": "workspace_name",
}

DEFAULT_SCOPE = "https://management.azure.com/.default"

REQUIRED = object()  # marks a setting with no default: config.py must set it

# Files write_parsed_indicators and sentinel_write_response ask for, written in the state file's
# directory (PARSED_INDICATORS_FILE_NAME in a constants.py names the first, as in the original).
PARSED_INDICATORS_FILE = "parsed_indicators.txt"
SENTINEL_RESPONSE_FILE = "sentinel_response.txt"

# A setting config.py leaves out -> the environment variable naming the directory its default file goes
# in. systemd sets them for a unit with StateDirectory= / LogsDirectory= (docs/deployment.md), so a
# service keeps its state in /var/lib and its log in /var/log without a path in config.py. Without them,
# the default file names are taken from config.py's directory.
ENV_DIRECTORY_DEFAULTS: dict[str, str] = {"state_file": "STATE_DIRECTORY", "log_file": "LOGS_DIRECTORY"}

# config.py setting -> its value when config.py does not set it.
SETTING_DEFAULTS: dict[str, Any] = {
    "ms_api_version": "2024-02-01-preview",
    "ms_delete_api_version": "2025-09-01",
    "ms_max_indicators_request": 100,
    "ms_max_requests_minute": 100,
    "misp_key": REQUIRED,
    "misp_domain": REQUIRED,
    "misp_verifycert": True,
    "misp_event_filters": DEFAULT_EVENT_FILTERS,
    "misp_event_limit_per_page": 500,
    "days_to_expire": 50,
    "days_to_expire_start": "valid_from",
    "days_to_expire_mapping": {},
    "days_to_expire_ignore_misp_last_seen": True,
    "default_confidence": 50,
    "sourcesystem": "MISP",
    "verbose_log": False,
    "log_file": "misp2sentinel.log",
    "dry_run": False,
    "write_parsed_indicators": False,
    "write_parsed_eventid": False,
    "sentinel_write_response": False,
    "remove_pipe_from_misp_attribute": True,
    "ignore_localtags": True,
    "misp_flatten_attributes": True,
    "misp_remove_eventreports": True,
    "timeframe_toids_change": "1d",
    "ms_useragent": "MISP-1.0",
    "ms_check_if_exist_in_sentinel": False,
    "ms_authority_host": "https://login.microsoftonline.com",
    "ms_upload_base_url": "https://api.ti.sentinel.azure.com",
    "ms_legacy_upload_base_url": "https://sentinelus.azure-api.net",
    "ms_management_base_url": "https://management.azure.com",
    "ms_ca_bundle": None,
    "state_file": "misp2sentinel.db",
    "ms_max_parallel_requests": 4,
    "key_vault_name": None,
    "key_vault_url": None,
    "misp_timeout": 30,
    "ms_timeout": 60,
}
