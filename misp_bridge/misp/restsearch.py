"""What MISP's restSearch takes, per controller, and how PyMISP's search() names it (docs/contracts.md 2).

MISP copies only the names in `RestSearchComponent::$paramArray` (MISP 2.5.1) for the controller out of
the request body; any other filter is dropped without a word and the search runs as if it were not
there, so a misspelt or misplaced filter silently widens what the sync fetches. `PYMISP_NAMES` maps
PyMISP's keyword arguments to the body names it sends (search() renames some: `type_attribute` ->
`type`, `last` -> `publish_timestamp`, ...); any other keyword goes into the body as it is.
"""

from __future__ import annotations

EVENT_PARAMS = frozenset(
    {
        *("returnFormat", "value", "type", "category", "org", "tags", "searchall", "from", "to", "last"),
        *("eventid", "withAttachments", "metadata", "uuid", "publish_timestamp", "timestamp"),
        *("event_timestamp", "event_tags", "published", "enforceWarninglist", "sgReferenceOnly", "limit"),
        *("page", "requested_attributes", "includeContext", "headerless", "includeWarninglistHits"),
        *("attackGalaxy", "to_ids", "deleted", "excludeLocalTags", "date", "includeSightingdb", "tag"),
        *("object_relation", "threat_level_id", "eventinfo", "sharinggroup", "idList", "includeAllTags"),
        *("includeAttachments", "event_uuid", "distribution", "sharing_group_id", "disableSiteAdmin"),
        *("flatten", "blockedAttributeTags", "eventsExtendingUuid", "extended", "extensionList"),
        *("excludeGalaxy", "includeAnalystData", "includeRelatedTags", "includeDecayScore"),
        *("includeScoresOnEvent", "includeFeedCorrelations", "includeServerCorrelations"),
        *("noEventReports", "noShadowAttributes", "order", "protected", "includeGranularCorrelations"),
        *("policy", "walled_garden", "ns", "email", "serial", "refresh", "retry", "expiry", "minimum_ttl"),
        *("ttl", "org.sector", "org.local", "org.nationality"),
    }
)
EVENT_PREFIXES = ("galaxy.",)

ATTRIBUTE_PARAMS = frozenset(
    {
        *("returnFormat", "value", "value1", "value2", "type", "category", "org", "tags", "from", "to"),
        *("last", "eventid", "withAttachments", "uuid", "publish_timestamp", "published", "timestamp"),
        *("enforceWarninglist", "to_ids", "deleted", "includeEventUuid", "event_timestamp"),
        *("threat_level_id", "includeEventTags", "includeProposals", "limit", "page"),
        *("requested_attributes", "includeContext", "headerless", "includeWarninglistHits"),
        *("attackGalaxy", "object_relation", "includeSightings", "includeCorrelations"),
        *("includeDecayScore", "decayingModel", "excludeDecayed", "modelOverrides", "includeFullModel"),
        *("score", "attribute_timestamp", "first_seen", "last_seen", "eventinfo", "sharinggroup"),
        *("allow_proposal_blocking", "flatten", "list", "event_ids", "includeAllTags"),
        *("includeAttributeUuid", "includeGalaxy", "order", "policy", "walled_garden", "ns", "email"),
        *("serial", "refresh", "retry", "expiry", "minimum_ttl", "ttl"),
    }
)

# PyMISP search() keyword -> the body name it sends (pymisp 2.5.34, api.py search()).
PYMISP_NAMES: dict[str, str] = {
    "type_attribute": "type",
    "quick_filter": "quickFilter",
    "date_from": "from",
    "date_to": "to",
    "with_attachments": "withAttachments",
    "last": "publish_timestamp",
    "enforce_warninglist": "enforceWarninglist",
    "include_event_uuid": "includeEventUuid",
    "include_event_tags": "includeEventTags",
    "sg_reference_only": "sgReferenceOnly",
    "include_context": "includeContext",
    "include_sightings": "includeSightings",
    "include_correlations": "includeCorrelations",
    "include_decay_score": "includeDecayScore",
    "exclude_decayed": "excludeDecayed",
}

# search() arguments that are not filters: in misp_event_filters they would break the call itself.
PYMISP_ARGUMENTS = frozenset({"controller", "return_format", "pythonify"})

# Attribute-search options that only shape the reply, in a way events give anyway: MISP's events search
# drops them, which widens nothing, so they pass without a warning. The original's config.py.default
# sets includeEventTags, and a warning on every run of an untouched config would be noise.
OUTPUT_ONLY = frozenset({"includeEventTags"})

# Filters that are flags: PyMISP and MISP read True/False or 0/1; anything else is not a flag.
FLAG_FILTERS = frozenset(
    {
        *("published", "to_ids", "metadata", "enforceWarninglist", "withAttachments", "includeEventUuid"),
        *("includeEventTags", "sgReferenceOnly", "includeContext", "headerless", "includeSightings"),
        *("includeCorrelations", "includeDecayScore", "excludeDecayed", "excludeLocalTags"),
        *("includeAllTags", "includeWarninglistHits", "searchall", "includeAttachments", "noEventReports"),
    }
)


NOT_A_FILTER = "it is not one of its filters"


def body_name(keyword: str) -> str:
    """The restSearch body name PyMISP sends for a search() keyword argument."""
    return PYMISP_NAMES.get(keyword, keyword)


def ignored_by_events_search(keyword: str) -> str | None:
    """None when MISP's events restSearch honours the filter; otherwise why it is dropped."""
    name = body_name(keyword)
    if name in EVENT_PARAMS or name.startswith(EVENT_PREFIXES):
        return None
    if name in ATTRIBUTE_PARAMS:
        return "it works in attribute searches only"
    return NOT_A_FILTER


# What a configuration may name for an events search (MISP's names and PyMISP's keywords for them).
KNOWN_EVENT_FILTERS = frozenset(EVENT_PARAMS | {k for k, v in PYMISP_NAMES.items() if v in EVENT_PARAMS})
