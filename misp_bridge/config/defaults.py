"""Built-in values: the constants.py tables (used when no constants.py is found) and setting vocabularies.

BUILTIN_CONSTANTS must stay equal to the project's constants.py; a test compares the two.
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

# The filters the README recommends; used when config.py has no misp_event_filters at all.
DEFAULT_EVENT_FILTERS: dict[str, Any] = {
    "published": 1,
    "tags": ['workflow:state="complete"'],
    "enforceWarninglist": True,
    "includeEventTags": True,
    "publish_timestamp": "14d",
}

# Filters PyMISP's search() and MISP's restSearch understand. Anything else draws a warning, because
# MISP silently ignores a misspelt filter and the sync would then fetch far more than intended.
KNOWN_EVENT_FILTERS = frozenset(
    {
        "value",
        "type_attribute",
        "type",
        "category",
        "org",
        "tags",
        "event_tags",
        "quick_filter",
        "quickFilter",
        "date_from",
        "date_to",
        "eventid",
        "with_attachments",
        "withAttachments",
        "metadata",
        "uuid",
        "publish_timestamp",
        "last",
        "timestamp",
        "published",
        "enforce_warninglist",
        "enforceWarninglist",
        "to_ids",
        "deleted",
        "include_event_uuid",
        "includeEventUuid",
        "include_event_tags",
        "includeEventTags",
        "event_timestamp",
        "attribute_timestamp",
        "sg_reference_only",
        "eventinfo",
        "searchall",
        "requested_attributes",
        "include_context",
        "includeContext",
        "include_sightings",
        "includeSightings",
        "include_correlations",
        "includeCorrelations",
        "include_decay_score",
        "includeDecayScore",
        "object_name",
        "exclude_decayed",
        "excludeDecayed",
        "sharinggroup",
        "threat_level_id",
        "analysis",
        "distribution",
        "first_seen",
        "last_seen",
        "excludeLocalTags",
        "order",
    }
)

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
