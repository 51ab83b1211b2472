"""Whatever argv Pandora hands the plugin, read as the alert it was meant to be (issue 8, finding 1).

Pandora substitutes macro values into the command line and runs it through /bin/sh (docs/pandora.md,
"The shell"). Wherever a value reaches the shell unquoted, the shell splits it into words: a log line
with a quoted name arrives as a dozen arguments, an empty value vanishes, and data may start with "-".
argparse would refuse all of that ("unrecognized arguments", "expected one argument") and the alert
would be lost, so the words are first read here, tolerantly, and handed to argparse as one
`--option=value` per option, which it cannot misread:

- `-d/--alert-data` takes the next word whatever it is (`-ERR`, `--insecure`: data, never an option);
- `-a`, `-n` and the options with a value take the next word unless it is one of the plugin's options
  (an empty unquoted field then gives an empty value instead of swallowing the next option);
- a word that is not an option (a piece of a split value) joins the free-text field it follows (agent,
  alert name or data), else the data, in order, with one space;
- an option given a second time is not an override but part of the text (data that an unquoted field
  split into `-u https://elsewhere` cannot redirect the alert); only the repeatable options repeat;
- `[RECOVER]` in front of an option word (Pandora's recovery prefix on field 6) is dropped;
- undecodable bytes (Latin-1 logs) become U+FFFD instead of lone surrogates;
- `-h/--help` and `--version` are options only in a command line without an alert: in one with an
  alert field they are text, or a word of split alert text would print the help and lose the alert.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

RECOVER = "[RECOVER]"
Kind = Literal["data", "text", "value", "multi", "repeat", "flag"]


@dataclass(frozen=True)
class OptionSpec:
    long: str
    kind: Kind


_SPECS: tuple[tuple[tuple[str, ...], Kind], ...] = (
    (("-u", "--url"), "value"),
    (("-k", "--key"), "value"),
    (("--key-file",), "value"),
    (("-a", "--agent"), "text"),
    (("-n", "--alert-name"), "text"),
    (("-d", "--alert-data"), "data"),
    (("-t", "--tlp"), "value"),
    (("-s", "--sharing"), "value"),
    (("-l", "--threat-level"), "value"),
    (("-c", "--category"), "value"),
    (("-g", "--tags"), "multi"),
    (("--agent-address",), "repeat"),
    (("--never-report",), "repeat"),
    (("--rules",), "value"),
    (("--spool-dir",), "value"),
    (("--timeout",), "value"),
    (("--dedup-hours",), "value"),
    (("--ca-bundle",), "value"),
    (("--log-file",), "value"),
    (("--flush-spool",), "flag"),
    (("--dry-run",), "flag"),
    (("--insecure",), "flag"),
    (("-h", "--help"), "flag"),
    (("--version",), "flag"),
)
OPTIONS: dict[str, OptionSpec] = {
    name: OptionSpec(names[-1], kind) for names, kind in _SPECS for name in names
}
_JOINS: frozenset[Kind] = frozenset({"data", "text"})  # split pieces join these fields
DATA = "--alert-data"
ALERT_FIELDS = frozenset({"--agent", "--alert-name", DATA})
INFO_FLAGS = frozenset({"--help", "--version"})  # options only when no alert field is given


def decode_word(word: str) -> str:
    """An argument as text: bytes Python could not decode (kept as surrogates) are decoded as UTF-8
    with U+FFFD for what is not UTF-8."""
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(word).decode("utf-8", "replace") if _escaped_only(word) else _replace(word)
    return word


def _escaped_only(word: str) -> bool:
    try:
        os.fsencode(word)
    except UnicodeEncodeError:
        return False
    return True


def _replace(word: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in word)


@dataclass
class Intake:
    """The options found in argv: one value per option (lists for the repeatable ones)."""

    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)  # pieces that follow no free-text field

    def get(self, long: str) -> str | None:
        return self.values.get(long)

    def argv(self) -> list[str]:
        """The options as argparse reads them unambiguously: `--option=value`, flags as they are."""
        words = [f"{name}={value}" for name, value in self.values.items()]
        words += [f"{name}={value}" for name, items in self.lists.items() for value in items]
        return words + self.flags

    def is_recovery(self) -> bool:
        """A recovery run: Pandora prefixed both the agent (field 3) and the alert name (field 4).
        The data is written by the attacker and never decides it."""
        agent, name = self.get("--agent"), self.get("--alert-name")
        return bool(agent and name and agent.startswith(RECOVER) and name.startswith(RECOVER))


def _option(word: str) -> tuple[OptionSpec | None, str | None]:
    """The option a word names (with `--long=value`, its value), or (None, None)."""
    if word.startswith(RECOVER) and word[len(RECOVER) :].startswith("-"):
        word = word[len(RECOVER) :]
    name, equals, attached = word.partition("=") if word.startswith("--") else (word, "", "")
    spec = OPTIONS.get(name)
    return (spec, attached if equals else None) if spec is not None else (None, None)


def read_argv(argv: Sequence[str]) -> Intake:
    """Every option in `argv`; pieces of split values joined back into the field they belong to."""
    words = [decode_word(word) for word in argv]
    with_alert = any((spec := _option(word)[0]) is not None and spec.long in ALERT_FIELDS for word in words)
    intake = Intake()
    joins = DATA  # where a stray word goes: the free-text field it follows, else the data
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        spec, attached = _option(word)
        if spec is not None and spec.long in INFO_FLAGS and with_alert:
            spec = None  # a word of alert text, not a request for the help
        if word == "--":
            _join(intake, DATA, words[index:])
            break
        if spec is None or (spec.kind not in ("multi", "repeat", "flag") and spec.long in intake.values):
            _join(intake, joins, [word])
            continue
        if spec.kind == "flag":
            if spec.long not in intake.flags:
                intake.flags.append(spec.long)
            joins = DATA
            continue
        if spec.kind == "multi":
            taken = [attached] if attached is not None else []
            while attached is None and index < len(words) and _option(words[index])[0] is None:
                taken.append(words[index])
                index += 1
            intake.lists.setdefault(spec.long, []).extend(taken)
            joins = DATA
            continue
        value, index = _value(spec, attached, words, index)
        if spec.kind == "repeat":
            intake.lists.setdefault(spec.long, []).append(value)
        else:
            intake.values[spec.long] = value
        joins = spec.long if spec.kind in _JOINS else DATA
    if intake.strays:  # after the data, in the order they came
        _join(intake, DATA, intake.strays, at_end=True)
    return intake


def _value(spec: OptionSpec, attached: str | None, words: Sequence[str], index: int) -> tuple[str, int]:
    if attached is not None:
        return attached, index
    if index >= len(words):
        return "", index
    # The data takes the next word whatever it is; other fields stop at one of our options (their
    # value was empty and vanished from an unquoted command line).
    if spec.kind != "data" and _option(words[index])[0] is not None:
        return "", index
    return words[index], index + 1


def _join(intake: Intake, field_name: str, pieces: Sequence[str], *, at_end: bool = False) -> None:
    if not pieces:
        return
    if field_name == DATA and DATA not in intake.values and not at_end:
        intake.strays.extend(pieces)  # the data has not come yet: kept for after it
        return
    current = intake.values.get(field_name)
    text = " ".join(pieces)
    intake.values[field_name] = text if not current else f"{current} {text}"
