"""The command line of pandora_to_misp.py: argv -> the alert kept in the spool -> event -> MISP.

Lifecycle of one run (docs/pandora.md has the operator's view):

1. read argv tolerantly (intake.py): whatever the shell split, the alert is read; a recovery run (agent
   and alert name both prefixed `[RECOVER]` by Pandora) stops here with exit 0;
2. check the options (a wrong one is one line on stderr, exit 2: the command definition needs fixing);
3. write-ahead: the alert is written to the spool before anything can fail (the configured spool, else
   the per-user one); SIGTERM waits while it is written;
4. find the key (-k, --key-file, MISP_KEY) and the rules, build the event, send it within the budget
   (a watchdog ends any request at the deadline), remove the record; then replay what the spools hold;
5. exit 0 (sent), 1 (kept in the spool, or in failed/), 2 (usage, with the alert kept when it got that
   far). Pandora logs stderr as errors, so a run that sent its alert prints nothing there.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import stat
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from misp_bridge.cli import Command, Environment, run_command
from misp_bridge.errors import BridgeError, SpoolError, TriageDataError, UsageError
from misp_bridge.exitcodes import PLUGIN_MEANINGS, PluginExit
from misp_bridge.output import logs
from misp_bridge.output.redact import register_secret
from misp_bridge.pandora.assemble import RulesCache, assemble
from misp_bridge.pandora.event import IP_CATEGORIES, TLP_TAGS
from misp_bridge.pandora.intake import RECOVER, read_argv
from misp_bridge.pandora.places import LOG_NAME, default_spool_dir, log_file_for, state_dir, usable_spools
from misp_bridge.pandora.publish import (
    MispGateway,
    Sender,
    Tally,
    Verdict,
    exit_code,
    replay,
    report_elsewhere,
)
from misp_bridge.pandora.spool import AlertFields, Held, Spool, SpoolRecord, normalise_url
from misp_bridge.pandora.watchdog import Budget, Signals, Terminated

PROG = "pandora_to_misp.py"
KEY_ENV = "MISP_KEY"
PANDORA_KILL = 15.0  # Pandora's global_alert_timeout

log = logging.getLogger("misp_bridge.pandora")

# Exception class -> exit code; the first class that matches wins.
EXIT_FOR: tuple[tuple[type[BaseException], int], ...] = (
    (TriageDataError, PluginExit.USAGE),  # the operator's rules file: fix it, retrying cannot help
    (BridgeError, PluginExit.SPOOLED),
)


class _Parser(argparse.ArgumentParser):
    """argparse behind the tolerant reading of intake.py; raises instead of printing usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)

    def parse_args(self, args: Sequence[str] | None = None, namespace: object = None) -> argparse.Namespace:  # type: ignore[override]
        intake = read_argv(list(sys.argv[1:] if args is None else args))
        if intake.is_recovery():
            given = {name: intake.get(name) for name in ("--spool-dir", "--log-file")}
            return argparse.Namespace(
                recovery=True,
                spool_dir=Path(given["--spool-dir"]) if given["--spool-dir"] else None,
                log_file=Path(given["--log-file"]) if given["--log-file"] else None,
            )
        parsed = super().parse_args(intake.argv())
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


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
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
    spool = default_spool_dir()
    log_file = log_file_for(spool, None)
    parser = _Parser(prog=PROG, description="Turn a Pandora FMS alert into a triaged MISP event.")
    add = parser.add_argument
    add("-u", "--url", help="MISP URL, e.g. https://misp.example.org (required unless --dry-run)")
    add("-k", "--key", help=f"MISP API key (visible in ps: prefer --key-file or {KEY_ENV})")
    add("--key-file", type=Path, metavar="PATH", help="a file holding the MISP API key alone (not in ps)")
    add("-a", "--agent", help="agent name (_agent_)")
    add("-n", "--alert-name", metavar="NAME", help="alert name (_alert_name_)")
    add("-d", "--alert-data", metavar="DATA", help="raw alert data (_data_)")
    add("-t", "--tlp", type=_one_of(TLP_TAGS, "the TLP tag"), default="tlp:green",
        help=f"TLP tag of the event: {', '.join(TLP_TAGS)} (default tlp:green)")  # fmt: skip
    add("-s", "--sharing", type=_in_range(0, 3, "sharing"), default=0, metavar="0-3",
        help="distribution: 0 your organisation, 1 community, 2 connected, 3 all (default 0)")  # fmt: skip
    add("-l", "--threat-level", type=_in_range(1, 3, "the threat level"), metavar="1-3",
        help="1 High, 2 Medium, 3 Low (default: what the triage rules say)")  # fmt: skip
    add("-c", "--category", type=_one_of(IP_CATEGORIES, "the category"),
        help=f"event category: {', '.join(IP_CATEGORIES)} (default: what the triage rules say)")  # fmt: skip
    add("-g", "--tags", action="append", default=[], metavar="TAGS",
        help="extra event tags, comma-separated; repeatable (default none)")  # fmt: skip
    add("--agent-address", action="append", default=[], metavar="ADDRESS",
        help="the agent's own address (_address_), never reported; repeatable")  # fmt: skip
    add("--never-report", type=_network, action="append", default=[], metavar="CIDR",
        help="a network of yours, never reported; repeatable")  # fmt: skip
    add("--rules", type=Path, metavar="PATH", help="a triage rules file, TOML (default: the packaged rules)")
    add("--spool-dir", type=Path, metavar="DIR",
        help=f"where alerts wait until MISP has them (default here: {spool})")  # fmt: skip
    add("--flush-spool", action="store_true", help="send the spooled alerts and exit (needs -u and a key)")
    add("--dry-run", action="store_true", help="print the MISP event this alert would create; send nothing")
    add("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
        help=f"total seconds for the run, under Pandora's {PANDORA_KILL:g} s kill (default 10)")  # fmt: skip
    add("--dedup-hours", type=_hours, default=24.0, metavar="HOURS",
        help="a repeat within this many hours becomes a sighting; 0 turns it off (default 24)")  # fmt: skip
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", metavar="PATH", help="CA file to verify MISP's certificate with")
    tls.add_argument("--insecure", action="store_true", help="do not verify MISP's certificate (logged)")
    add("--log-file", type=Path, metavar="PATH", help=f"the plugin's log file (default here: {log_file})")
    return parser


# --- the arguments ----------------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> None:
    if not args.flush_spool:
        missing = [flag for flag, value in (("-a/--agent", args.agent), ("-n/--alert-name", args.alert_name),
                   ("-d/--alert-data", args.alert_data)) if value is None]  # fmt: skip
        if missing:
            raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    if args.dry_run:
        if args.flush_spool:
            raise UsageError("argument --dry-run: not allowed with --flush-spool")
        return
    if args.url is None:
        raise UsageError("the following arguments are required: -u/--url")
    if not args.url.lower().startswith(("https://", "http://")):
        raise UsageError(f"argument -u/--url: must start with https://, got {normalise_url(args.url)!r}")


def resolve_key(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """-k (without Pandora's recovery prefix), else --key-file, else MISP_KEY; UsageError if none."""
    key = str(args.key or "").strip().removeprefix(RECOVER).strip()
    if not key and args.key_file is not None:
        key = _read_key_file(args.key_file)
    key = key or env.get(KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"no MISP API key: -k is empty, no --key-file was given and {KEY_ENV} is not set")
    return key


def _read_key_file(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            text = handle.read(4096).decode("utf-8", "replace")
    except OSError as exc:
        raise UsageError(f"argument --key-file: cannot read {path} ({exc.strerror or exc})") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        logs.file_only(
            log, f"The key file {path} can be read by other users; chmod 600 it.", level=logging.WARNING
        )
    key = text.strip()
    if not key or "\n" in key:
        raise UsageError(f"argument --key-file: {path} must hold the key alone on one line")
    return key


def alert_fields(args: argparse.Namespace) -> AlertFields:
    return AlertFields(
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
        dedup_hours=args.dedup_hours,
        rules=None if args.rules is None else str(args.rules.resolve()),
    )


# --- the run ----------------------------------------------------------------------------------------

Ahead = tuple[Spool, Held, SpoolRecord]  # the run's own alert, written ahead and held


def run(args: argparse.Namespace, env: Environment) -> int:
    """The body of pandora_to_misp.py, once the arguments are read."""
    if args.recovery:
        logs.configure(log_file_for(args.spool_dir or default_spool_dir(), args.log_file), stream=env.stderr)
        log.info("Recovery run (agent and alert name start with %s): nothing sent.", RECOVER)
        env.stdout.write(f"{PROG}: recovery run, nothing sent{_log_note()}\n")
        return PluginExit.SENT
    _validate(args)
    if args.dry_run:
        # For analysts writing rules or checking a field mapping: no log file, no spool, no network.
        preview = assemble(
            alert_fields(args), "", first_seen=env.clock(), record_id="dry-run", rules=RulesCache()
        )
        env.stdout.write(json.dumps({"Event": preview.event}, indent=2, sort_keys=True) + "\n")
        return PluginExit.SENT
    spool_dir = args.spool_dir or default_spool_dir()
    fallback = state_dir(env.env)
    logs.configure(
        log_file_for(spool_dir, args.log_file),
        stream=env.stderr,
        fallback=None if fallback is None else fallback / LOG_NAME,
    )
    # The deadline counts from here, not from the first request: spooling and triage are part of the run.
    budget = Budget(args.timeout, env.monotonic)
    with Signals() as signals:
        with signals.hold():
            spools, problems = usable_spools(spool_dir, env)
            ahead = None if args.flush_spool else _write_ahead(args, spools, problems, env)
        try:
            return _send(args, env, spools, ahead, budget)
        except Terminated:
            where = f"the alert stays in {ahead[1].path}" if ahead is not None else "nothing was kept"
            log.warning("Stopped by SIGTERM (Pandora's alert timeout?); %s.", where)
            return PluginExit.SPOOLED
        finally:
            if ahead is not None:
                ahead[1].close()


def _write_ahead(
    args: argparse.Namespace, spools: Sequence[Spool], problems: Sequence[str], env: Environment
) -> Ahead | None:
    record = SpoolRecord(misp_url=normalise_url(args.url), first_seen=env.clock(), alert=alert_fields(args))
    for problem in problems:
        logs.file_only(log, f"{problem} Using the next spool.", level=logging.WARNING)
    for spool in spools:
        try:
            return spool, spool.write(record), record
        except SpoolError as exc:
            logs.file_only(log, str(exc), level=logging.WARNING)
    log.error("No spool can be written (%s); the alert is sent directly and is lost if MISP cannot take it.",
              "; ".join(problems) or "see above")  # fmt: skip
    return None


def _send(
    args: argparse.Namespace, env: Environment, spools: Sequence[Spool], current: Ahead | None, budget: Budget
) -> int:
    key = resolve_key(args, env.env)
    register_secret(key)
    verify: bool | str = args.ca_bundle or not args.insecure
    if args.insecure:
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # said once below instead
        logs.file_only(
            log, "TLS verification of MISP is off (--insecure): anyone on the path can read the key.",
            level=logging.WARNING,
        )  # fmt: skip
    rules = RulesCache()
    rules.require(None if args.rules is None else str(args.rules.resolve()))  # a bad file: exit 2 now
    gateway = MispGateway(args.url, key, budget, verify=verify)
    tally = Tally()
    sender = Sender(gateway, rules, tally)
    verdict: Verdict | None = None
    if current is not None:
        spool, held, record = current
        verdict = sender.process(spool, held, record, fresh=True)
        if verdict == "stop":
            tally.kept += 1
            log.warning("%s; the alert was kept in %s.", str(gateway.broken).rstrip("."), held.path)
    elif not args.flush_spool:
        unkept = SpoolRecord(
            misp_url=normalise_url(args.url), first_seen=env.clock(), alert=alert_fields(args)
        )
        verdict = sender.send_unkept(unkept)
    own = (tally.created, tally.sighted)  # what became of this run's alert, before any replay
    replay(sender, spools, budget)
    report_elsewhere(tally, gateway.url)
    left = sum(1 for spool in spools for _ in spool.pending()) if args.flush_spool else 0
    log.info("Done: %d created, %d sighted, %d replayed, %d kept, %d failed.",
             tally.created, tally.sighted, tally.replayed, tally.kept, tally.failed)  # fmt: skip
    env.stdout.write(
        f"{PROG}: {_outcome(args, verdict, own=own, tally=tally, left=left, url=gateway.url)}{_log_note()}\n"
    )
    return exit_code(verdict, left)


def _outcome(
    args: argparse.Namespace,
    verdict: Verdict | None,
    *,
    own: tuple[int, int],
    tally: Tally,
    left: int,
    url: str,
) -> str:
    """What the run did, in words, for the one line on stdout (Pandora discards stdout; a person running
    the command by hand reads it: stderr stays empty on success, because Pandora logs it as an error)."""
    replayed = f"; {tally.replayed} kept alert(s) sent too" if tally.replayed else ""
    if args.flush_spool:
        return f"spool flushed to {url}: {tally.created} created, {tally.sighted} sighted, {left} still kept"
    if verdict == "sent":
        done = "event created" if own[0] else "sighting added to the event of the same earlier alert"
        return f"{done} in MISP {url}{replayed}"
    if verdict == "failed":
        return (
            f"the alert was not sent to MISP {url}: refused (moved to failed/) or not keepable; see the log"
        )
    return f"MISP {url} could not take the alert now; it is kept in the spool for the next run{replayed}"


def _log_note() -> str:
    files = logs.log_files()
    return f" (log: {files[0]})" if files else ""


EXAMPLES = (
    '-u https://misp.example.org --key-file /etc/pandora/misp.key -a web01 -n "SSH brute force" -d "$DATA"',
    '--dry-run -a web01 -n "SSH brute force" -d "Failed password for root from 198.51.100.23 port 52114"',
    "-u https://misp.example.org --key-file /etc/pandora/misp.key --flush-spool",
)
COMMAND = Command(
    PROG,
    build_parser,
    run,
    EXIT_FOR,
    usage_code=PluginExit.USAGE,
    examples=EXAMPLES,
    exit_codes=PLUGIN_MEANINGS,
    notes="On success one line goes to stdout (Pandora discards it) and nothing to stderr (Pandora logs "
    "it as an error). Key: -k, else --key-file, else MISP_KEY. Guide: docs/pandora.md.",
    requirements="requirements-plugin.txt",
)


def main(argv: Sequence[str] | None = None, *, env: Environment | None = None) -> int:
    """Entry point; returns the exit code (PluginExit)."""
    return run_command(COMMAND, argv, env)
