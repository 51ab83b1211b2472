"""The plugin's one regular-expression engine: RE2 (the google-re2 package), linear time by construction.

Alert text is written by whoever attacks the monitored host, and Pandora kills the plugin after 15 s.
A backtracking engine (Python's `re`) can take time that grows with a power of the input for some
patterns, so one careless rule, packaged or custom, would let 128 KiB of crafted data end the run
before the alert is kept. RE2 compiles every pattern to an automaton and never backtracks: a search
costs time linear in the text for ANY pattern it accepts, which is a property of the engine rather
than of how carefully each pattern was written. The price is the syntax: no lookarounds and no
backreferences (RE2 refuses them at compile time, so a custom rule fails when the rules are loaded,
never halfway through an alert), `\\z` instead of `\\Z`, and ASCII-only `\\w`, `\\b`, `\\s`.

Every pattern the plugin applies to alert text is compiled here: triage rules (packaged and custom),
the log-format anchors, the IOC scans and refanging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Protocol, cast

import re2  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Match", "Pattern", "RegexError", "compile_pattern", "scrub"]

# RE2 would print its compile errors on stderr (which Pandora logs as errors); we report them ourselves.
_LOG_ERRORS = False
# Per pattern; enough for the bounded repetitions the rules use ({0,200} and the like) to stay in
# RE2's fast DFA on 128 KiB alerts.
_MAX_MEM = 64 << 20
_SURROGATES = re.compile("[\ud800-\udfff]")


class RegexError(ValueError):
    """RE2 cannot compile a pattern; the message is RE2's own, one line."""


class Match(Protocol):
    def group(self, group: int | str = 0) -> str: ...
    def start(self, group: int | str = 0) -> int: ...
    def end(self, group: int | str = 0) -> int: ...


class Pattern(Protocol):
    @property
    def pattern(self) -> str: ...
    def search(self, text: str, pos: int | None = None, endpos: int | None = None) -> Match | None: ...
    def match(self, text: str, pos: int | None = None, endpos: int | None = None) -> Match | None: ...
    def fullmatch(self, text: str, pos: int | None = None, endpos: int | None = None) -> Match | None: ...
    def finditer(self, text: str, pos: int | None = None, endpos: int | None = None) -> Iterator[Match]: ...
    def sub(self, repl: str | Callable[[Match], str], text: str, count: int = 0) -> str: ...


def _options(*, ignore_case: bool) -> object:
    options = re2.Options()
    options.log_errors = _LOG_ERRORS
    options.max_mem = _MAX_MEM
    options.case_sensitive = not ignore_case
    return options


def compile_pattern(pattern: str, *, ignore_case: bool = False, multiline: bool = False) -> Pattern:
    """`pattern` compiled by RE2; RegexError (RE2's reason, one line) when RE2 refuses it.

    `multiline` makes ^ and $ match at every line, as Python's re.MULTILINE does.
    """
    source = f"(?m){pattern}" if multiline else pattern
    try:
        return cast(Pattern, re2.compile(source, _options(ignore_case=ignore_case)))
    except re2.error as exc:
        raise RegexError(_reason(exc, source)) from None


def _reason(exc: Exception, source: str) -> str:
    """RE2's complaint in one line, without the whole pattern it sometimes repeats."""
    detail = exc.args[0] if exc.args else ""
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    text = text.removesuffix(f": {source}").strip()
    return text.splitlines()[0] if text else "not a valid RE2 pattern"


def scrub(text: str) -> str:
    """`text` that UTF-8 can encode: lone surrogates (from undecodable bytes or JSON escapes such as
    \\ud800) become U+FFFD. RE2 works on UTF-8, and so do MISP and the log file."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A single character class: no backtracking, so Python's re is safe here.
        return _SURROGATES.sub("\ufffd", text)
    return text
