"""script.py end to end against hostile MISP content: one bad value skips one attribute, never the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_sync import event_with, run, stored, summary_json, ws_counts
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.misp import MispSandbox
from tests.fixtures.sync_config import write_config


def test_a_hostile_value_skips_its_attribute_and_the_rest_of_the_event_goes(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 7: an AS number or a port of 5,000 digits raised Python's int-conversion limit error;
    the run exited 1 with nothing uploaded, the event's good attributes included, run after run."""
    misp.app.seed_event(
        event_with(
            [
                ("AS", "9" * 5000),
                ("ip-dst|port", "192.0.2.9|" + "7" * 5000),
                ("domain", "good.example"),
                ("ip-dst", "198.51.100.23"),
            ]
        )
    )
    config = write_config(tmp_path, misp, azure)

    code = run(config, "--json")

    out, err = capsys.readouterr()
    assert code == 0, err
    data = summary_json(out)
    assert data["skipped"] == {"invalid value": 2}
    assert ws_counts(data, azure)["uploaded"] == 2
    assert sorted(body["pattern"] for body in stored(azure).values()) == [
        "[domain-name:value = 'good.example']",
        "[ipv4-addr:value = '198.51.100.23']",
    ]
    assert "9" * 100 not in err  # the value itself is never echoed
    assert run(config) == 0  # and the next run is just as fine


def test_free_text_that_reads_as_a_pattern_is_never_sent(
    tmp_path: Path, misp: MispSandbox, azure: AzureSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 8: a custom free-text type's value went out as the pattern, so an attacker's value was
    stored as a working STIX expression."""
    misp.app.seed_event(
        event_with([("iban", "[ipv4-addr:value NOT = 0]"), ("iban", "[EXISTS ipv4-addr:value]")])
    )
    config = write_config(tmp_path, misp, azure)

    assert run(config, "--json") == 0

    data = summary_json(capsys.readouterr().out)
    assert data["skipped"] == {"free text reads as a pattern": 2}
    assert stored(azure) == {}
    assert azure.sentinel.upload_requests == []
