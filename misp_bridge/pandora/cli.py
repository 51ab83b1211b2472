"""The command line of pandora_to_misp.py: argv -> Alert -> extract -> classify -> build -> deliver.

Pandora discards stdout, logs stderr and only logs the exit code, so a bad argument is one line on
stderr with exit 2, everything else goes to the plugin's own log file, and no traceback ever escapes
(the shared runner, misp_bridge/cli.py, guarantees it). Errors become exit codes through EXIT_FOR.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from misp_bridge.cli import Command, Environment, run_command
from misp_bridge.errors import BridgeError, TriageDataError, UsageError
from misp_bridge.exitcodes import PluginExit
from misp_bridge.output import logs
from misp_bridge.output.redact import register_secret
from misp_bridge.pandora.event import IP_CATEGORIES, TLP_TAGS, Alert, BuiltEvent
from misp_bridge.pandora.iocs.ip import IPNetwork
from misp_bridge.pandora.publish import Budget, MispGateway, deliver
from misp_bridge.pandora.spool import Spool, SpoolRecord

PROG = "pandora_to_misp.py"
ROOT = Path(__file__).resolve().parents[2]  # where pandora_to_misp.py sits, beside the package
SYSTEM_SPOOL = Path("/var/spool/pandora_to_misp")
SYSTEM_LOG = Path("/var/log/pandora/pandora_to_misp.log")
LOG_NAME = "pandora_to_misp.log"
RECOVER = "[RECOVER]"
KEY_ENV = "MISP_KEY"
PANDORA_KILL = 15.0  # Pandora's global_alert_timeout

log = logging.getLogger("misp_bridge.pandora")


# Exception class -> exit code; the first class that matches wins.
EXIT_FOR: tuple[tuple[type[BaseException], int], ...] = (
    (TriageDataError, PluginExit.USAGE),  # the operator's rules file: fix it, retrying cannot help
    (BridgeError, PluginExit.SPOOLED),
)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting (the runner prints one line), and
    that takes a recovery run's arguments as they come (they may not parse)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)

    def parse_args(self, args: Sequence[str] | None = None, namespace: object = None) -> argparse.Namespace:  # type: ignore[override]
        words = list(sys.argv[1:] if args is None else args)
        if any(item.startswith(RECOVER) for item in words):
            spool_dir, log_file = _loose_paths(words)
            return argparse.Namespace(recovery=True, spool_dir=spool_dir, log_file=log_file)
        parsed = super().parse_args(words)
        parsed.recovery = False
        return parsed


def _in_range(low: int, high: int, what: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be {low}-{high}, got {text!r}")
        return value

    return convert


def _one_of(choices: Sequence[str], what: str) -> Callable[[str], str]:
    table = {choice.casefold(): choice for choice in choices}

    def convert(text: str) -> str:
        found = table.get(text.strip().casefold())
        if found is None:
            raise argparse.ArgumentTypeError(f"{what} must be one of {', '.join(choices)}; got {text!r}")
        return found

    return convert


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a network such as 192.0.2.0/24") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 2.0 <= value < PANDORA_KILL:
        raise argparse.ArgumentTypeError(f"must be 2 to under {PANDORA_KILL:g} seconds, got {text!r}")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 24 * 365:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or a number of hours, got {text!r}")
    return value


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Turn a Pandora FMS alert into a triaged MISP event.")
    add = parser.add_argument
    add("-u", "--url", help="MISP URL, e.g. https://misp.example.org (required unless --dry-run)")
    add("-k", "--key", help=f"MISP API key (may be empty when {KEY_ENV} is set; not needed with --dry-run)")
    add("-a", "--agent", help="agent name (_agent_)")
    add("-n", "--alert-name", help="alert name (_alert_name_)")
    add("-d", "--alert-data", help="raw alert data (_data_)")
    add("-t", "--tlp", type=_one_of(TLP_TAGS, "the TLP tag"), default="tlp:green")
    add("-s", "--sharing", type=_in_range(0, 3, "sharing"), default=0, help="event distribution 0-3")
    add("-l", "--threat-level", type=_in_range(1, 3, "the threat level"), help="1 High, 2 Medium, 3 Low")
    add("-c", "--category", type=_one_of(IP_CATEGORIES, "the category"))
    # nargs="+": an unquoted "-g SOC-Team, Critical-Alert" in field 6 arrives as two words.
    add("-g", "--tags", nargs="+", action="extend", default=[], help="extra tags, comma-separated")
    add("--agent-address", action="append", default=[], help="the agent's own address (repeatable)")
    add("--never-report", type=_network, action="append", default=[], help="CIDR never reported")
    add("--rules", type=Path, help="a triage rules file (TOML)")
    add("--spool-dir", type=Path, help="where unsent events wait")
    add("--flush-spool", action="store_true", help="send spooled events and exit")
    add("--dry-run", action="store_true", help="print the MISP event this alert would create; send nothing")
    add("--timeout", type=_seconds, default=10.0, help="total seconds for the run (default 10)")
    add("--dedup-hours", type=_hours, default=24.0, help="duplicate window in hours (0 = off)")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", help="CA file to verify MISP's certificate")
    tls.add_argument("--insecure", action="store_true", help="do not verify MISP's certificate")
    add("--log-file", type=Path, help="the plugin's log file")
    return parser


def default_spool_dir() -> Path:
    beside = ROOT / "spool"
    usable = beside if beside.is_dir() else ROOT
    return beside if os.access(usable, os.W_OK) else SYSTEM_SPOOL


def _log_file(spool_dir: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    return SYSTEM_LOG if spool_dir == SYSTEM_SPOOL else spool_dir.parent / LOG_NAME


def _loose_paths(argv: Sequence[str]) -> tuple[Path | None, Path | None]:
    """--spool-dir and --log-file from arguments that may not parse (a recovery run)."""
    found: dict[str, Path] = {}
    for index, item in enumerate(argv[:-1]):
        if item in ("--spool-dir", "--log-file"):
            found[item] = Path(argv[index + 1])
    return found.get("--spool-dir"), found.get("--log-file")


def _validate(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """Cross-argument checks; the API key to use."""
    if not args.flush_spool:
        missing = [flag for flag, value in (("-a/--agent", args.agent), ("-n/--alert-name", args.alert_name),
                   ("-d/--alert-data", args.alert_data)) if value is None]  # fmt: skip
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    if args.dry_run:
        if args.flush_spool:
            raise UsageError("argument --dry-run: not allowed with --flush-spool")
        return ""
    absent = [flag for flag, value in (("-u/--url", args.url), ("-k/--key", args.key)) if value is None]
    if absent:
        raise UsageError(f"the following arguments are required: {', '.join(absent)}")
    if not args.url.lower().startswith(("https://", "http://")):
        raise UsageError(f"argument -u/--url: must start with https://, got {args.url!r}")
    key = str(args.key).strip() or env.get(KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"argument -k/--key: is empty and {KEY_ENV} is not set")
    return key


def _alert(args: argparse.Namespace) -> Alert:
    return Alert(
        url=args.url,
        agent=args.agent,
        name=args.alert_name,
        data=args.alert_data,
        tlp=args.tlp,
        sharing=args.sharing,
        threat_level=args.threat_level,
        category=args.category,
        tags=tuple(dict.fromkeys(tag for word in args.tags for tag in _tags(word))),
        agent_addresses=tuple(args.agent_address),
        never_report=tuple(args.never_report),
    )


def _build(args: argparse.Namespace, now: float) -> BuiltEvent:
    from misp_bridge.pandora.event import build_event
    from misp_bridge.pandora.iocs import extract
    from misp_bridge.pandora.triage import classify, load_rules

    alert = _alert(args)
    rules = load_rules(args.rules)
    extraction = extract(
        alert.data,
        own_addresses=(*alert.agent_addresses, alert.agent),
        never_report=alert.never_report,
    )
    triage = classify(alert.name, alert.data, rules, extraction.json_data)
    log.info("Triage of %r on %s: matched %s.", alert.name, alert.agent, ", ".join(triage.matched) or "none")
    return build_event(alert, extraction, triage, now=now, dedup_hours=args.dedup_hours)


def run(args: argparse.Namespace, env: Environment) -> int:
    """The body of pandora_to_misp.py, once the arguments are parsed."""
    if args.recovery:
        logs.configure(_log_file(args.spool_dir or default_spool_dir(), args.log_file), stream=env.stderr)
        log.info("Recovery run ([RECOVER] in the fields): nothing sent.")
        return PluginExit.SENT
    key = _validate(args, env.env)
    if args.dry_run:
        # For analysts writing rules or checking a field mapping: no log file, no spool, no network.
        preview = _build(args, env.clock())
        env.stdout.write(json.dumps({"Event": preview.event}, indent=2, sort_keys=True) + "\n")
        return PluginExit.SENT
    register_secret(key)
    spool_dir = args.spool_dir or default_spool_dir()
    logs.configure(_log_file(spool_dir, args.log_file), stream=env.stderr)
    budget = Budget(args.timeout, env.monotonic)
    verify: bool | str = args.ca_bundle or not args.insecure
    if args.insecure:
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    spool = Spool(spool_dir, clock=env.clock)
    gateway = MispGateway(args.url, key, budget, verify=verify)
    built: BuiltEvent | None = None
    try:
        if not args.flush_spool:
            built = _build(args, env.clock())
        outcome = deliver(gateway, spool, budget, built)
    except BridgeError:
        raise
    except Exception:
        # Last resort: keep the alert; the runner logs the details in the file and prints one line.
        if built is not None:
            _emergency_spool(spool, built, args.url, env.clock())
        raise
    log.info(
        "Done: %d created, %d sighted, %d replayed, %d spooled, %d failed.",
        outcome.created,
        outcome.sighted,
        outcome.replayed,
        outcome.spooled,
        outcome.failed,
    )
    return outcome.code


def _emergency_spool(spool: Spool, built: BuiltEvent, url: str, now: float) -> None:
    record = SpoolRecord(built.event, url, now, 0, built.attacker_ip, built.ip_attribute_uuid)
    try:
        spool.add(record)
    except BridgeError as exc:
        log.error("The alert could not be spooled either: %s", exc)  # noqa: TRY400 - our own one-sentence error, no traceback wanted


COMMAND = Command(PROG, build_parser, run, EXIT_FOR, usage_code=PluginExit.USAGE)


def main(argv: Sequence[str] | None = None, *, env: Environment | None = None) -> int:
    """Entry point; returns the exit code (PluginExit)."""
    return run_command(COMMAND, argv, env)
