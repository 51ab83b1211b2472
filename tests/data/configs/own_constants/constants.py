"""A user's constants.py that changes two tables and leaves the rest to the defaults."""

# Galaxy tags are wanted as labels here, so only the property tags are ignored.
MISP_TAGS_IGNORE = ["misp:confidence-level=", "sentinel-threattype:", "kill-chain:", "tlp:"]

# Phone numbers are sent as free-text indicators too.
MISP_CUSTOM_ATTRIBUTE = frozenset({"iban", "phone-number"})
