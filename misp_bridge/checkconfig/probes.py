"""The network half of check-config.py: probes that read, never write.

Order matters: Key Vault first (its secrets replace the ones in config.py), then MISP, then for each
workspace a token from Entra ID, an EMPTY upload and, with management settings, a one-item query.

The empty upload: Sentinel checks the token, the workspace and the caller's role before it looks at
the body, so `{"sourcesystem": ..., "stixobjects": []}` answers 401/403/404 exactly as a real upload
would, while storing nothing. Microsoft does not document the reply to an empty list; the sandbox
answers 400 "must be a non-empty array" (after the role check), and the real API is believed to answer
400 or 200. Both mean "reachable and authorised"; a 400 that blames the api-version names
ms_api_version instead.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from misp_bridge.azure.http import SINGLE_ATTEMPT, AzureSender, Reply
from misp_bridge.azure.keyvault import CLIENT_SECRET_SECRET, MISP_KEY_SECRET, read_secrets, vault_authority
from misp_bridge.azure.management import error_message, management_url
from misp_bridge.azure.ratelimit import SlidingWindow
from misp_bridge.azure.upload import CONTRIBUTOR_ROLE, upload_body, upload_url
from misp_bridge.checkconfig.report import Finding
from misp_bridge.config import Settings, Severity, Workspace
from misp_bridge.errors import AzureTlsError, BridgeError, MispError, MispKeyRefused, MispUnavailable
from misp_bridge.sync.misp_source import MispSource
from misp_bridge.sync.wiring import ca_of, token_provider

log = logging.getLogger("misp_bridge.checkconfig")

ROLE = CONTRIBUTOR_ROLE
PROBE_TIMEOUT = 20.0  # seconds: a check should answer quickly even when the sync's timeouts are long


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    setting: str
    text: str  # formatted with ws (the Workspace) and found (what a query returned)


# Upload probe: HTTP status -> what it means for the person fixing config.py.
UPLOAD_VERDICTS: dict[int, Verdict] = {
    200: Verdict(
        "ok",
        "workspace_id",
        "workspace {ws.workspace_id} answered the empty-upload probe (HTTP 200): reachable and authorised",
    ),
    400: Verdict(
        "ok",
        "workspace_id",
        "workspace {ws.workspace_id} answered the empty-upload probe "
        "(HTTP 400 for the empty list, after checking the token and the role): reachable and "
        "authorised",
    ),
    401: Verdict(
        "error",
        "scope",
        "Sentinel refused the token for workspace {ws.workspace_id} "
        "(HTTP 401); check scope (https://management.azure.com/.default) and the tenant",
    ),
    403: Verdict(
        "error",
        "client_id",
        "the app {ws.client_id} lacks the " + ROLE + " role on workspace "
        "{ws.workspace_id} (HTTP 403); assign it in the workspace's Access control (IAM)",
    ),
    404: Verdict(
        "error",
        "workspace_id",
        "workspace {ws.workspace_id} was not found (HTTP 404); "
        "check workspace_id: the Log Analytics workspace ID (a GUID), not its name",
    ),
    429: Verdict(
        "warning",
        "workspace_id",
        "Sentinel throttled the probe for workspace "
        "{ws.workspace_id} (HTTP 429); another process may be uploading, try again later",
    ),
}
# Management query: same idea, ARM's statuses.
QUERY_VERDICTS: dict[int, Verdict] = {
    200: Verdict(
        "ok",
        "workspaceName",
        "management API answered queryIndicators for workspace {ws.workspace_name} ({found})",
    ),
    401: Verdict(
        "error",
        "scope",
        "the management API refused the token for workspace "
        "{ws.workspace_name} (HTTP 401); check scope and the tenant",
    ),
    403: Verdict(
        "error",
        "client_id",
        "the app {ws.client_id} lacks the " + ROLE + " role on workspace "
        "{ws.workspace_name} in resource group {ws.resource_group} (HTTP 403); the management "
        "API needs it to look up and revoke indicators",
    ),
    404: Verdict(
        "error",
        "workspaceName",
        "workspace {ws.workspace_name} was not found in resource group "
        "{ws.resource_group} of subscription {ws.subscription_id} (HTTP 404); check "
        "subscription_id, resourceGroupName and workspaceName",
    ),
    429: Verdict(
        "warning",
        "workspaceName",
        "the management API throttled the query for workspace "
        "{ws.workspace_name} (HTTP 429); try again later",
    ),
}


class Prober:
    """Runs the probes for one Settings; `session`, `misp_factory` and `vault_reader` are swappable."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        vault_reader: Callable[..., Any] = read_secrets,
        misp_source: Callable[..., MispSource] = MispSource,
        timeout: float = PROBE_TIMEOUT,
        vault_client_secret: bool = True,
    ) -> None:
        self.settings = settings
        # False for a Function whose `tenants` carry their own secrets: the vault's is for one workspace.
        self._vault_client_secret = vault_client_secret
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._vault_reader = vault_reader
        self._misp_source = misp_source
        self._timeout = timeout
        self.findings: list[Finding] = []
        self.notes: list[str] = []

    def _add(self, severity: Severity, area: str, setting: str, message: str) -> None:
        self.findings.append(Finding(severity, area, setting, message))

    # -- Key Vault ---------------------------------------------------------------------------------

    def keyvault(self) -> None:
        url = self.settings.vault_url
        if url is None:
            return
        setting = "key_vault_url" if self.settings.key_vault_url else "key_vault_name"
        try:
            secrets = self._vault_reader(
                url,
                authority_host=vault_authority(self.settings.ms_authority_host),
                timeout=min(self._timeout, 10.0),
                ca_bundle=str(self.settings.ms_ca_bundle) if self.settings.ms_ca_bundle else None,
            )
        except BridgeError as exc:
            self._add("error", "keyvault", setting, str(exc))
            return
        self.settings = self.settings.with_secrets(
            misp_key=secrets.misp_key,
            client_secret=secrets.client_secret if self._vault_client_secret else None,
        )
        self._add(
            "ok",
            "keyvault",
            setting,
            f"secrets '{MISP_KEY_SECRET}' and '{CLIENT_SECRET_SECRET}' read from Key Vault {url}",
        )

    # -- MISP --------------------------------------------------------------------------------------

    def misp(self) -> None:
        s = self.settings
        if not s.misp_key:
            self.notes.append("MISP check skipped: misp_key was to come from Key Vault")
            return
        source = self._misp_source(
            url=s.misp_domain,
            key=s.misp_key,
            verify=s.misp_verifycert,
            timeout=min(s.misp_timeout, self._timeout),
            page_size=s.misp_event_limit_per_page,
            throttle_attempts=1,  # a probe reports a rate limit, it does not wait it out
        )
        try:
            source.connect()
        except MispUnavailable as exc:
            self._add("error", "misp", "misp_domain", f"{exc}; check misp_domain and the network")
            return
        except MispError as exc:
            setting = "misp_key" if isinstance(exc, MispKeyRefused) else "misp_domain"
            self._add("error", "misp", setting, str(exc))
            return
        self._add(
            "ok",
            "misp",
            "misp_key",
            f"MISP at {source.url} is reachable and accepted the API key (MISP version {source.version})",
        )
        try:
            count = source.count_events(s.misp_event_filters)
        except MispError as exc:
            self._add("error", "misp", "misp_event_filters", str(exc))
            return
        if count == 0:
            self._add(
                "warning",
                "misp",
                "misp_event_filters",
                "no MISP event matches misp_event_filters: a sync would upload nothing",
            )
        else:
            self._add("ok", "misp", "misp_event_filters", f"{count} MISP event(s) match misp_event_filters")

    # -- Entra ID and Sentinel ----------------------------------------------------------------------

    def workspace(self, ws: Workspace) -> None:
        entra, sentinel = f"entra/{ws.label}", f"sentinel/{ws.label}"
        if not ws.client_secret:
            self.notes.append(f"{ws.label}: checks skipped, the client secret was to come from Key Vault")
            return
        # A probe answers at once: one attempt, no back-off.
        provider = token_provider(
            self.settings, ws, timeout=min(self.settings.ms_timeout, self._timeout), attempts=1
        )
        try:
            provider.token()
        except BridgeError as exc:
            self._add("error", entra, "ms_auth", str(exc))
            return
        self._add(
            "ok",
            entra,
            "ms_auth",
            f"Entra ID issued a token to app {ws.client_id} in tenant {ws.tenant}",
        )
        sender = AzureSender(
            tokens=provider,
            limiter=SlidingWindow(10, 1.0),  # a handful of probes: no real limit to respect
            user_agent=self.settings.ms_useragent,
            verify=ca_of(self.settings),
            timeout=self._timeout,
            policy=SINGLE_ATTEMPT,  # a probe reports a 429 or a 500; it does not wait it out
            session=self._session,
        )
        self._upload_probe(ws, sender, sentinel)
        if ws.has_management:
            self._query_probe(ws, sender, sentinel)

    def _post(self, sender: AzureSender, url: str, body: dict[str, Any]) -> Reply | str:
        """The probe's reply, or a sentence when nothing came back."""
        try:
            reply = sender.post(url, body)
        except AzureTlsError as exc:
            return str(exc)
        if reply.response is None:
            return f"could not be reached ({reply.problem})"
        return reply

    def _judge(
        self,
        verdicts: Mapping[int, Verdict],
        reply: Reply | str,
        *,
        area: str,
        ws: Workspace,
        settings: tuple[str, str],
        what: str,
        found: str = "",
    ) -> None:
        """One finding for a probe's reply; `settings` = (base URL setting, api-version setting)."""
        base, api = settings
        if isinstance(reply, str):
            self._add("error", area, base, f"{what} {reply}; check {base}")
            return
        status, detail = reply.status, error_message(reply.response)
        if status == 400 and "api-version" in detail.lower():
            self._add("error", area, api, f"{what} refused the api-version (HTTP 400); check {api}")
            return
        verdict = verdicts.get(status)
        if verdict is None:
            hint = "usually transient, try again" if status >= 500 else detail or "unexpected reply"
            self._add("error", area, base, f"{what} answered HTTP {status} for workspace {ws.label}: {hint}")
            return
        message = verdict.text.format(ws=ws, found=found)
        self._add(verdict.severity, area, f"ms_auth[{verdict.setting!r}]", message)

    def _upload_probe(self, ws: Workspace, sender: AzureSender, area: str) -> None:
        s = self.settings
        legacy = not ws.new_upload_api
        base = "ms_legacy_upload_base_url" if legacy else "ms_upload_base_url"
        url = upload_url(getattr(s, base), ws.workspace_id, s.ms_api_version, legacy=legacy)
        reply = self._post(sender, url, upload_body(s.sourcesystem, [], legacy=legacy))
        self._judge(
            UPLOAD_VERDICTS,
            reply,
            area=area,
            ws=ws,
            settings=(base, "ms_api_version"),
            what="the Sentinel upload API",
        )

    def _query_probe(self, ws: Workspace, sender: AzureSender, area: str) -> None:
        s = self.settings
        url = management_url(s.ms_management_base_url, ws, "queryIndicators", s.ms_delete_api_version)
        reply = self._post(sender, url, {"pageSize": 1, "sources": [s.sourcesystem]})
        found = "it answered"
        if isinstance(reply, Reply) and reply.status == 200 and reply.response is not None:
            try:
                items = reply.response.json().get("value") or []
            except (ValueError, AttributeError):
                items = []
            found = (
                f"indicators of source '{s.sourcesystem}' are present"
                if items
                else f"no indicator of source '{s.sourcesystem}' yet"
            )
        self._judge(
            QUERY_VERDICTS,
            reply,
            area=area,
            ws=ws,
            settings=("ms_management_base_url", "ms_delete_api_version"),
            what="the management API",
            found=found,
        )

    def _timed(self, what: str, probe: Callable[[], None]) -> None:
        """One probe, with a debug line (check-config --verbose) saying what it found and how long it took."""
        log.debug("checking %s ...", what)
        started, before = time.monotonic(), len(self.findings)
        probe()
        said = "; ".join(f"{f.severity} {f.setting}" for f in self.findings[before:]) or "skipped"
        log.debug("checked %s in %.0f ms: %s", what, (time.monotonic() - started) * 1000, said)

    def run(self) -> tuple[list[Finding], list[str]]:
        try:
            self._timed("Key Vault", self.keyvault)
            self._timed("MISP", self.misp)
            for ws in self.settings.ms_auth:
                self._timed(f"workspace {ws.label}", functools.partial(self.workspace, ws))
        finally:
            if self._owns_session:
                self._session.close()
        return self.findings, self.notes


def probe_all(settings: Settings) -> tuple[list[Finding], list[str]]:
    """Every network probe for these settings, with the real clients."""
    return Prober(settings).run()
