"""MISP events -> STIX 2.1 indicators Sentinel can match (pure code; docs/mapping.md).

events.py      which attributes of an event are considered, and their tags
patterns.py    MISP type -> STIX pattern (tables; how a `domain|ip` attribute becomes a pattern)
indicators.py  one attribute -> its Indicator(s) or a Skip with a reason
options.py     ConvertOptions, built from Settings
times.py       MISP times in, STIX times out
"""

from misp_bridge.sync.convert.indicators import (
    SKIP_REASONS,
    Skip,
    convert_attribute,
    convert_event,
    generation_id,
    revoked,
)
from misp_bridge.sync.convert.options import ConvertOptions, options_from_settings
from misp_bridge.sync.convert.patterns import escape, pattern_for
from misp_bridge.sync.convert.times import iso

__all__ = [
    "SKIP_REASONS",
    "ConvertOptions",
    "Skip",
    "convert_attribute",
    "convert_event",
    "escape",
    "generation_id",
    "iso",
    "options_from_settings",
    "pattern_for",
    "revoked",
]
