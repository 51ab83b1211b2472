"""What the conversion needs from the settings, as one frozen value (its defaults are config's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from misp_bridge.config.defaults import BUILTIN_CONSTANTS, SETTING_DEFAULTS
from misp_bridge.config.model import Settings

_D = SETTING_DEFAULTS
_C = BUILTIN_CONSTANTS


@dataclass(frozen=True)
class ConvertOptions:
    """Conversion settings under short names; a field left out takes config.py's documented default."""

    misp_domain: str
    days_to_expire: int = _D["days_to_expire"]
    days_to_expire_start: Literal["valid_from", "current_date"] = _D["days_to_expire_start"]
    days_to_expire_mapping: Mapping[str, int] = field(default_factory=dict)
    ignore_misp_last_seen: bool = _D["days_to_expire_ignore_misp_last_seen"]
    default_confidence: int = _D["default_confidence"]
    ignore_localtags: bool = _D["ignore_localtags"]
    tags_ignore: tuple[str, ...] = tuple(_C["MISP_TAGS_IGNORE"])
    allowed_taxonomies: tuple[str, ...] = tuple(_C["MISP_ALLOWED_TAXONOMIES"])
    confidence_map: Mapping[str, int] = field(default_factory=lambda: dict(_C["MISP_CONFIDENCE"]))
    custom_types: frozenset[str] = frozenset(_C["MISP_CUSTOM_ATTRIBUTE"])
    accepted_types: frozenset[str] = frozenset(_C["UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES"])
    tlp_markings: Mapping[str, str] = field(default_factory=lambda: dict(_C["TLP_MARKING_OBJECT_DEFINITION"]))
    default_threattype: str = _C["SENTINEL_DEFAULT_THREATTYPE"]
    default_tlp: str = _C["SENTINEL_DEFAULT_TLP"]
    remove_pipe: bool = _D["remove_pipe_from_misp_attribute"]
    flatten_attributes: bool = _D["misp_flatten_attributes"]
    remove_eventreports: bool = _D["misp_remove_eventreports"]
    kill_chain_phases: frozenset[str] | None = None  # None: every kill-chain:<phase> tag counts


def options_from_settings(settings: Settings) -> ConvertOptions:
    """The conversion options of a loaded configuration."""
    start: Any = settings.days_to_expire_start
    return ConvertOptions(
        misp_domain=settings.misp_domain,
        days_to_expire=settings.days_to_expire,
        days_to_expire_start=start,
        days_to_expire_mapping=dict(settings.days_to_expire_mapping),
        ignore_misp_last_seen=settings.days_to_expire_ignore_misp_last_seen,
        default_confidence=settings.default_confidence,
        ignore_localtags=settings.ignore_localtags,
        tags_ignore=tuple(settings.misp_tags_ignore),
        allowed_taxonomies=tuple(settings.misp_allowed_taxonomies),
        confidence_map={str(tag).lower(): level for tag, level in settings.misp_confidence.items()},
        custom_types=frozenset(settings.misp_custom_attribute),
        accepted_types=frozenset(settings.upload_indicator_misp_accepted_types),
        tlp_markings={str(k).lower(): str(v) for k, v in settings.tlp_marking_object_definition.items()},
        default_threattype=settings.sentinel_default_threattype,
        default_tlp=settings.sentinel_default_tlp,
        remove_pipe=settings.remove_pipe_from_misp_attribute,
        flatten_attributes=settings.misp_flatten_attributes,
        remove_eventreports=settings.misp_remove_eventreports,
        kill_chain_phases=settings.kill_chain_phases,
    )
