"""Text as a real MISP can store it (docs/contracts.md section 2; issue 8, findings 6 and 7). Pure code.

MISP's default schema is utf8mb3: a character outside the Basic Multilingual Plane (an emoji, many CJK
extension characters) makes events/add fail with a 500 in the event info or a comment, for good, and is
silently turned into '?' in a value. Such characters are therefore written visibly and reversibly:
U+1F525 becomes the eight-digit escape `\\U0001f525`, and, in a text that needed it, every backslash
already there is doubled first, so the original can always be read back. A text without such a
character is left exactly as it was (Windows paths keep their single backslashes).

MISP also drops, with a 200, any attribute whose value is over 65,535 bytes, so the raw alert text is
cut on a character boundary to fit, with a marker saying how much was cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from misp_bridge.pandora.rx import scrub

MAX_VALUE_BYTES = 65_535  # MISP's maxTextLength for an attribute value, in UTF-8 bytes
CUT_MARKER = "\n[cut by pandora_to_misp: {count} more bytes of the alert were not kept]"


@dataclass(frozen=True)
class Stored:
    text: str
    escaped: bool = False  # 4-byte characters were written as \\U........ (and backslashes doubled)
    cut: int = 0  # bytes of the original left out


def escape_4byte(text: str) -> Stored:
    """`text` without characters utf8mb3 cannot hold (see the module docstring)."""
    text = scrub(text)
    if all(ord(char) <= 0xFFFF for char in text):
        return Stored(text)
    doubled = text.replace("\\", "\\\\")
    return Stored("".join(f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else c for c in doubled), escaped=True)


def unescape_4byte(text: str) -> str:
    """The original of a text escape_4byte escaped (for analysts and tests)."""
    out, index = [], 0
    while index < len(text):
        if text.startswith("\\\\", index):
            out.append("\\")
            index += 2
        elif text.startswith("\\U", index) and len(text) >= index + 10:
            out.append(chr(int(text[index + 2 : index + 10], 16)))
            index += 10
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def fit(text: str, limit: int = MAX_VALUE_BYTES) -> Stored:
    """`text` escaped, then cut on a character boundary so that it and the marker take at most `limit`
    UTF-8 bytes."""
    stored = escape_4byte(text)
    raw = stored.text.encode("utf-8")
    if len(raw) <= limit:
        return stored
    room = limit - len(CUT_MARKER.format(count=len(raw)).encode("utf-8"))
    kept = raw[:room].decode("utf-8", errors="ignore")
    cut = len(raw) - len(kept.encode("utf-8"))
    return Stored(kept + CUT_MARKER.format(count=cut), escaped=stored.escaped, cut=cut)


def shorten(text: str, limit: int) -> str:
    """A label for the event info: at most `limit` characters, "..." marking a cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
