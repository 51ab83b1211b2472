"""Adversarial alert texts for the regex fuzz test and bench/regex_worst_case.py (one source for both).

Each generator repeats a unit up to a size: long runs of spaces, digits, dots, slashes and colons, the
shapes the IOC scans look for (addresses, emails, hashes, URLs, defanged forms), the keywords and
fragments of every triage rule, and units built to make a backtracking engine try every split (the
cron-persistence text of issue 8's finding 3 among them). 128 KiB is Linux's single-argument limit,
so no alert data can be longer.
"""

from __future__ import annotations

from collections.abc import Iterator

from misp_bridge.pandora.triage import RuleSet

MAX_ALERT = 128 * 1024

# Units that hurt backtracking engines or stress the scans.
UNITS: tuple[str, ...] = (
    " ", "\t", "\n", "1", ".", "/", ":", "a", "-", "=", "%", "\u00e9", "\U0001f525", "0",
    "1.", "1.1.", "1.1.1.1.", "255.255.255.255 ", "1.1.1.1/", "::", "::1:", "fe80::1%", "a:b:c:d:",
    "a@", "a@b.", "a.b@c.d.", "http://", "http://a", "hxxp[:]//", "[.]", "[dot]", "(.)",
    "src=", "rhost=", "from x port 1 ", "from ", " port 1", "[client ", "{TCP} ", " -> ",
    "Source Network Address: ", "Name='IpAddress'>",
    "d41d8cd98f00b204e9800998ecf8427e", "deadbeef", "CVE-2024-", "CVE-2024-1234",
    "/etc/cron", "> /etc/cron ", ">>/etc/cron", "tee -a ", "tee ", "/etc/cron.d/x' ", "crontab -u x ",
    "authorized_keys ", "> authorized_keys", "union select ", "union/**/", "or 1=1 ", "or '1'='1",
    "virus ", "virus definitions ", "xc2", "c2:", "not infected ", "infected files: 0 ",
    "authentication failure ", "(sudo:auth): authentication failure ", "EventID 4625 ",
    "logon type 10 ", "an account failed to log on ", "Accepted password ", " after ",
    "wget ", "wget -x ", "curl ", "curl -o x ", "| sh ", "lsass ", "dump ", "rm -rf ", "/var/log ",
    "eval(", "() { :; };", "$(", "${jndi:", "<script", "\\", "'", '"',
)  # fmt: skip


def _rule_units(rules: RuleSet) -> Iterator[str]:
    """Each rule's keywords, and the plain words of its patterns, as repeat units."""
    for rule in rules.rules:
        for keyword in rule.keywords:
            yield keyword + " "
            yield keyword
        for pattern in rule.patterns:
            words = "".join(c if c.isalnum() or c in " /.-_:=>" else " " for c in pattern.pattern).split()
            fragment = " ".join(w for w in words if len(w) > 2)
            if fragment:
                yield fragment + " "


# A keyword followed by one long run: nested or adjacent quantifiers over the run (finding 3's
# `\btee\s+(?:-a\s+)?\s*/etc/cron`) split it every possible way in a backtracking engine.
HEADS: tuple[str, ...] = (
    "tee", "tee -a", ">", "/etc/cron", "crontab", "authorized_keys", "from", "src=", "http://", "a@",
    "accepted password", "union", "or", "curl", "wget", "rm", "lsass", "virus", "infected", "[client",
    "::", "1.1.1.1", "logon type",
)  # fmt: skip
FILLERS: tuple[str, ...] = (" ", "\t", "/", ".", "1", "a", ":", "-")


def cases(rules: RuleSet, size: int = MAX_ALERT) -> Iterator[tuple[str, str]]:
    """(label, alert text of `size` characters) for every repeated unit and every head + filler run."""
    for unit in units(rules):
        yield f"{unit[:24]!r} repeated", repeated(unit, size)
    for head in HEADS:
        for filler in FILLERS:
            yield f"{head!r} + {filler!r} run", (head + filler * size)[:size]


def units(rules: RuleSet) -> list[str]:
    """Every unit, each once, in a stable order."""
    return list(dict.fromkeys([*UNITS, *_rule_units(rules)]))


def repeated(unit: str, size: int = MAX_ALERT) -> str:
    """`unit` repeated to `size` characters (128 KiB by default)."""
    return (unit * (size // len(unit) + 1))[:size]
