"""The sync's revocation lifecycle against a real MISP 2.5, with the sandbox's Entra ID and Sentinel.

Events are added and edited through PyMISP as an analyst's tooling would: published, to_ids switched off
(the next run with --verify-recent-toids-change revokes the indicator), switched on again and published
(the next run sends it under the id of its next generation, since Sentinel never lets a revoked id come
back), while the revoked id stays revoked. Also checks, on the real server, the premise of the filter
warnings: MISP's events search drops a filter it does not know and searches as if it were not there.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from pymisp import MISPAttribute, MISPEvent, PyMISP

from misp_bridge.cli import Environment
from misp_bridge.sync import cli
from misp_bridge.sync.convert import generation_id
from misp_bridge.sync.state.store import State
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.realmisp import RealMisp
from tests.fixtures.sync_config import workspace_entry

pytestmark = pytest.mark.realmisp


def _config(tmp_path: Path, real_misp: RealMisp, azure: AzureSandbox, tag: str) -> Path:
    values: dict[str, Any] = {
        "ms_auth": workspace_entry(azure),
        "misp_key": real_misp.key,
        "misp_domain": real_misp.url,
        "misp_verifycert": real_misp.ca,
        "misp_event_filters": {"published": True, "tags": [tag]},
        "log_file": str(tmp_path / "sync.log"),
        "state_file": str(tmp_path / "state.db"),
        "ms_authority_host": azure.authority_host,
        "ms_upload_base_url": azure.upload_base_url,
        "ms_management_base_url": azure.management_base_url,
        "ms_ca_bundle": str(azure.ca_path),
    }
    path = tmp_path / "config.py"
    path.write_text("".join(f"{name} = {value!r}\n" for name, value in values.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


def _run(config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        ["--config", str(config), "--no-progress", "--json", *extra],
        env=Environment(env={}, stdout=out, stderr=err),
    )
    lines = out.getvalue().strip().splitlines()
    return code, (json.loads(lines[-1]) if lines else {}), err.getvalue()


def _set_to_ids(client: PyMISP, attribute_uuid: str, to_ids: bool) -> None:
    attribute = client.get_attribute(attribute_uuid, pythonify=True)
    assert isinstance(attribute, MISPAttribute), attribute
    attribute.to_ids = to_ids
    updated = client.update_attribute(attribute, pythonify=True)
    assert isinstance(updated, MISPAttribute) and updated.to_ids is to_ids, updated


def test_to_ids_off_revokes_and_on_again_comes_back_under_a_new_id(
    real_misp: RealMisp, azure: AzureSandbox, tmp_path: Path
) -> None:
    tag = real_misp.tag()
    event = MISPEvent()
    event.info = f"misp-bridge real-MISP lifecycle {uuid.uuid4()}"
    event.add_tag(tag)
    ip = event.add_attribute("ip-dst", "203.0.113.77", to_ids=True)
    domain = event.add_attribute("domain", "c2.lifecycle.real-misp-tier.example", to_ids=True)
    client = real_misp.client()
    created = client.add_event(event, pythonify=True)
    assert isinstance(created, MISPEvent), created
    real_misp.created.append(created.uuid)
    client.publish(created)
    config = _config(tmp_path, real_misp, azure, tag)
    ip_id, domain_id = f"indicator--{ip.uuid}", f"indicator--{domain.uuid}"

    code, summary, err = _run(config)
    assert code == 0, err
    assert set(azure.sentinel.objects(azure.workspace_id)) == {ip_id, domain_id}

    # to_ids off in MISP: the clean-up pass revokes that indicator, and only it.
    _set_to_ids(client, ip.uuid, False)
    code, summary, err = _run(config, "--verify-recent-toids-change", "--uuid", created.uuid)
    assert code == 0, err
    assert summary["workspaces"][azure.workspace_name]["revoked"] == 1
    held = azure.sentinel.objects(azure.workspace_id)
    assert held[ip_id]["revoked"] is True and "revoked" not in held[domain_id]

    # to_ids on again, event published again: back in Sentinel under generation 1's id.
    _set_to_ids(client, ip.uuid, True)
    client.publish(created)
    code, summary, err = _run(config)
    assert code == 0, err
    counts = summary["workspaces"][azure.workspace_name]
    assert counts["returned"] == 1 and counts["uploaded"] == 1 and counts["rejected"] == 0
    back = generation_id(ip_id, 1)
    held = azure.sentinel.objects(azure.workspace_id)
    assert held[ip_id]["revoked"] is True  # the revoked id stays revoked
    assert "revoked" not in held[back]
    assert held[back]["pattern"] == "[ipv4-addr:value = '203.0.113.77']"
    with State.open(tmp_path / "state.db") as state:
        assert state.generations(azure.workspace_id, [ip_id]) == {ip_id: 1}

    # Re-runs agree on the new id: nothing more to send.
    sent = len(azure.sentinel.upload_requests)
    code, summary, err = _run(config)
    assert code == 0, err
    assert len(azure.sentinel.upload_requests) == sent
    assert summary["workspaces"][azure.workspace_name]["unchanged"] == 2


def test_the_events_search_drops_filters_it_does_not_know(real_misp: RealMisp) -> None:
    """The premise of the sync's filter warnings, on the real server (docs/contracts.md 2)."""
    tag = real_misp.tag()
    event = MISPEvent()
    event.info = f"misp-bridge real-MISP filters {uuid.uuid4()}"
    event.add_tag(tag)
    event.add_attribute("ip-dst", "203.0.113.78", to_ids=True)
    client = real_misp.client()
    created = client.add_event(event, pythonify=True)
    assert isinstance(created, MISPEvent), created
    real_misp.created.append(created.uuid)

    def count(**extra: Any) -> int:
        reply = requests.post(
            f"{real_misp.url}/events/restSearch",
            json={"tags": [tag], "metadata": 1, **extra},
            headers={"Authorization": real_misp.key, "Accept": "application/json"},
            verify=real_misp.ca,
            timeout=30,
        )
        assert reply.status_code == 200, reply.text[:200]
        return len(reply.json()["response"])

    assert count() == 1
    for ignored in ({"first_seen": "2099-01-01"}, {"excludeDecayed": 1}, {"includeEventTags": 1}):
        assert count(**ignored) == 1, ignored
    assert count(timestamp=4102444800) == 0  # a filter it knows still filters
