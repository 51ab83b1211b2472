"""Tables that shape how MISP tags and attribute types become Sentinel indicators.

Edit a copy of this file to tune the sync. The loader looks for constants.py beside your config.py
first, then in the working directory, then beside script.py; a name you leave out keeps the value shown
here. The same values are built into misp_bridge (misp_bridge/config/defaults.py), so a missing file
changes nothing. The original misp2sentinel's constants.py, of any version, is read as it is
(docs/sync.md, "constants.py").
"""

# Tags that hold one of these texts (anywhere, in any case) are not copied into an indicator's labels.
# The first four are already turned into indicator properties (confidence, threat type, kill chain
# phases, TLP marking), so repeating them as labels adds nothing. Galaxy tags (threat actors, malware,
# ATT&CK techniques) are left out to keep labels short: remove "misp-galaxy:" to send them too.
MISP_TAGS_IGNORE = [
    "misp:confidence-level=",
    "sentinel-threattype:",
    "kill-chain:",
    "tlp:",
    "misp-galaxy:",
]

# Namespaces (the part before ":") whose tags may become labels. An empty list allows every
# namespace; for example ["tlp", "admiralty-scale", "type"] keeps only those three.
MISP_ALLOWED_TAXONOMIES = []

# misp:confidence-level tag -> STIX confidence (0-100). A tag on the attribute wins over one on the
# event; without either, default_confidence from config.py applies.
MISP_CONFIDENCE = {
    'misp:confidence-level="completely-confident"': 100,
    'misp:confidence-level="usually-confident"': 75,
    'misp:confidence-level="fairly-confident"': 50,
    'misp:confidence-level="rarely-confident"': 25,
    'misp:confidence-level="unconfident"': 0,
    'misp:confidence-level="confidence-cannot-be-evaluated"': 50,
}

# MISP types with no STIX pattern of their own that should still reach Sentinel. Their raw value is
# sent as a free-text indicator, the way the Azure portal lets you create one by hand. They are
# accepted for upload even if you forget to add them to the list below.
MISP_CUSTOM_ATTRIBUTE = frozenset({"iban"})

# MISP attribute types that become indicators (when their to_ids flag is set). Composite types
# (with a "|") give the half Sentinel can match; see remove_pipe_from_misp_attribute in config.py.
# Types missing here, such as yara, sigma or text, are skipped and counted in the run summary.
# fmt: off
UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES = [
    # network addresses
    "ip-src", "ip-dst", "ip-src|port", "ip-dst|port",
    "domain", "hostname", "domain|ip", "hostname|port",
    "url", "uri", "mac-address", "AS",
    # e-mail
    "email", "email-src", "email-dst", "email-subject",
    # files and their hashes
    "filename",
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha512/224", "sha512/256",
    "sha3-224", "sha3-256", "sha3-384", "sha3-512",
    "ssdeep", "tlsh", "imphash", "authentihash", "impfuzzy", "pehash", "vhash",
    "filename|md5", "filename|sha1", "filename|sha224", "filename|sha256", "filename|sha384",
    "filename|sha512", "filename|sha512/224", "filename|sha512/256",
    "filename|sha3-224", "filename|sha3-256", "filename|sha3-384", "filename|sha3-512",
    "filename|ssdeep", "filename|tlsh", "filename|imphash", "filename|authentihash",
    "filename|impfuzzy", "filename|pehash", "filename|vhash",
    # host artefacts
    "mutex", "regkey", "regkey|value", "user-agent",
    # certificates
    "x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256",
    # custom free-text types (see MISP_CUSTOM_ATTRIBUTE)
    "iban",
]
# fmt: on

# TLP tag -> STIX 2.1 marking-definition id. These are the four TLP 1.0 markings the STIX 2.1
# specification predefines. TLP 2.0 has no STIX ids of its own, so tlp:clear shares white's id and
# tlp:amber+strict shares amber's (the closest meaning in TLP 1.0).
TLP_MARKING_OBJECT_DEFINITION = {
    "tlp:white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "tlp:clear": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "tlp:green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "tlp:amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "tlp:amber+strict": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "tlp:red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

# Threat type Sentinel shows when neither the attribute nor the event has a sentinel-threattype tag.
SENTINEL_DEFAULT_THREATTYPE = "WatchList"

# TLP applied when neither the attribute nor the event has a TLP tag; must be a key of the table above.
SENTINEL_DEFAULT_TLP = "tlp:white"
