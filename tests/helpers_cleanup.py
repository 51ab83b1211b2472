"""Shared set-up for the clean-up tests: a config.py pointing at the sandboxes, a run context, seeding."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from misp_bridge.settings import Settings, load_settings
from misp_bridge.sync.context import RunContext, build_context
from misp_bridge.sync.stix import convert_event, iso
from tests.fixtures_azure import AzureSandbox
from tests.fixtures_misp import MispSandbox

SOURCE = "MISP"


def write_config(
    directory: Path,
    azure: AzureSandbox,
    misp: MispSandbox | None = None,
    *,
    management: bool = True,
    extra: str = "",
) -> Path:
    """A complete config.py for the sandboxes (the management keys only when `management`)."""
    keys = ""
    if management:
        keys = (
            f'        "subscription_id": "{azure.subscription_id}",\n'
            f'        "resourceGroupName": "{azure.resource_group}",\n'
            f'        "workspaceName": "{azure.workspace_name}",\n'
        )
    misp_url = misp.url if misp is not None else "https://127.0.0.1:9"
    misp_key = misp.key if misp is not None else "unused-misp-key-000000000000000000000000"
    body = (
        "ms_auth = {\n"
        f'    "tenant": "{azure.tenant}",\n'
        f'    "client_id": "{azure.client_id}",\n'
        f'    "client_secret": "{azure.client_secret}",\n'
        f'    "workspace_id": "{azure.workspace_id}",\n'
        f"{keys}"
        "}\n"
        f'misp_key = "{misp_key}"\n'
        f'misp_domain = "{misp_url}"\n'
        f'misp_verifycert = "{azure.ca_path}"\n'
        f'ms_ca_bundle = "{azure.ca_path}"\n'
        f'ms_authority_host = "{azure.authority_host}"\n'
        f'ms_upload_base_url = "{azure.upload_base_url}"\n'
        f'ms_management_base_url = "{azure.management_base_url}"\n'
        f'state_file = "{directory / "state.db"}"\n'
        f'log_file = "{directory / "sync.log"}"\n'
        f'sourcesystem = "{SOURCE}"\n' + extra
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.py"
    path.write_text(body, encoding="utf-8")
    path.chmod(0o600)
    return path


def settings_for(
    directory: Path, azure: AzureSandbox, misp: MispSandbox | None = None, **kw: Any
) -> Settings:
    return load_settings(write_config(directory, azure, misp, **kw), env={})


def context(
    settings: Settings, *, dry_run: bool = False, now: Callable[[], datetime] | None = None
) -> RunContext:
    return build_context(
        settings,
        dry_run=dry_run,
        now=now or (lambda: datetime.now(timezone.utc)),
        sleep=lambda _s: None,
    )


def indicator(
    value: str,
    *,
    valid_until: datetime | None = None,
    created: datetime | None = None,
    event_uuid: str | None = None,
    stix_id: str | None = None,
) -> dict[str, Any]:
    """A valid STIX indicator body as the sync would upload it."""
    created = created or datetime.now(timezone.utc) - timedelta(days=1)
    body: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id or f"indicator--{uuid.uuid4()}",
        "created": iso(created),
        "modified": iso(created),
        "name": "test event",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": iso(created),
        "valid_until": iso(valid_until or created + timedelta(days=50)),
        "confidence": 50,
        "indicator_types": ["malicious-activity"],
    }
    if event_uuid:
        body["external_references"] = [
            {
                "source_name": "MISP",
                "external_id": event_uuid,
                "url": f"https://misp/events/view/{event_uuid}",
            }
        ]
    return body


def seed_sentinel(azure: AzureSandbox, bodies: list[dict[str, Any]], source: str = SOURCE) -> None:
    """Put objects straight into the emulator's store (set-up only; the product talks HTTPS)."""
    for body in bodies:
        azure.sentinel.store.upsert(azure.workspace_id, source, body, "upload")


def misp_event(n: int = 3) -> dict[str, Any]:
    """A published event with `n` to_ids ip-dst attributes stamped an hour ago."""
    stamp = str(int(time.time()) - 3600)
    return {
        "uuid": str(uuid.uuid4()),
        "info": "Brute force from several hosts",
        "date": "2026-01-01",
        "published": True,
        "timestamp": stamp,
        "publish_timestamp": stamp,
        "threat_level_id": "2",
        "analysis": "2",
        "distribution": "0",
        "Orgc": {"name": "SOC", "uuid": str(uuid.uuid4())},
        "Attribute": [
            {
                "uuid": str(uuid.uuid4()),
                "type": "ip-dst",
                "category": "Network activity",
                "value": f"203.0.113.{10 + i}",
                "to_ids": True,
                "timestamp": stamp,
                "distribution": "5",
                "comment": "",
            }
            for i in range(n)
        ],
    }


def upload_event(ctx: RunContext, event: dict[str, Any]) -> list[str]:
    """Convert and upload one event like a sync run does, recording it in the state; the stix ids."""
    target = ctx.targets[0]
    items = [r for r in convert_event(event, ctx.options, ctx.now()) if not hasattr(r, "reason")]
    bodies = [i.body for i in items]  # type: ignore[union-attr]
    result = target.uploader.send(bodies)
    assert len(result.delivered) == len(bodies)
    ctx.state.record_delivered(
        target.key,
        [
            (i.stix_id, i.content_hash, i.attribute_uuid, i.event_uuid, i.body["valid_until"])  # type: ignore[union-attr]
            for i in items
        ],
    )
    return [i.stix_id for i in items]  # type: ignore[union-attr]
