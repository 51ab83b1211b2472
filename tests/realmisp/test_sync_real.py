"""The sync reading a real MISP 2.5: a published event's to_ids attributes reach the sandbox's Sentinel."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pymisp import MISPEvent

from misp_bridge.cli import Environment
from misp_bridge.sync import cli
from tests.fixtures.azure import AzureSandbox
from tests.fixtures.realmisp import RealMisp
from tests.fixtures.sync_config import workspace_entry

pytestmark = pytest.mark.realmisp


def _config(tmp_path: Path, real_misp: RealMisp, azure: AzureSandbox, tag: str) -> Path:
    values = {
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


def test_a_published_event_reaches_sentinel(real_misp: RealMisp, azure: AzureSandbox, tmp_path: Path) -> None:
    tag = real_misp.tag()
    event = MISPEvent()
    event.info = f"misp-bridge real-MISP tier {uuid.uuid4()}"
    event.add_tag(tag)
    ip = event.add_attribute("ip-dst", "203.0.113.99", to_ids=True)
    domain = event.add_attribute("domain", "c2.real-misp-tier.example", to_ids=True)
    event.add_attribute("comment", "not an indicator", to_ids=False)
    client = real_misp.client()
    created = client.add_event(event, pythonify=True)
    real_misp.created.append(created.uuid)
    client.publish(created)
    config = _config(tmp_path, real_misp, azure, tag)

    code = cli.main(["--config", str(config), "--no-progress"], env=Environment(env={}))

    assert code == 0
    held = azure.sentinel.objects(azure.workspace_id)
    patterns = sorted(body["pattern"] for body in held.values())
    assert patterns == [
        "[domain-name:value = 'c2.real-misp-tier.example']",
        "[ipv4-addr:value = '203.0.113.99']",
    ]
    assert set(held) == {f"indicator--{ip.uuid}", f"indicator--{domain.uuid}"}
    # A second run finds nothing new to send.
    before = len(azure.sentinel.upload_requests)
    assert cli.main(["--config", str(config), "--no-progress"], env=Environment(env={})) == 0
    assert len(azure.sentinel.upload_requests) == before


def test_the_real_misps_certificate_without_its_ca_is_named(
    real_misp: RealMisp, azure: AzureSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 9 against the real server: its certificate checked against another CA (the sandbox's) is
    one line naming TLS, the MISP URL, OpenSSL's reason and misp_verifycert; exit 3."""
    if real_misp.ca is False:
        pytest.skip("this real MISP is reached without TLS verification")
    config = _config(tmp_path, real_misp, azure, real_misp.tag())
    config.write_text(
        config.read_text(encoding="utf-8").replace(repr(real_misp.ca), repr(str(azure.ca_path))),
        encoding="utf-8",
    )

    code = cli.main(["--config", str(config), "--no-progress"], env=Environment(env={}))

    assert code == 3
    [line] = [x for x in capsys.readouterr().err.splitlines() if "TLS" in x]
    assert line.startswith(f"ERROR: MISP at {real_misp.url}: its TLS certificate is not trusted (")
    assert line.endswith("); set misp_verifycert to the CA bundle path.")
