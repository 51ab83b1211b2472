"""The Entra ID stand-in, driven by msal as the product drives it (docs/contracts.md 3)."""

from __future__ import annotations

import msal
import pytest
import requests

from sandbox import tokens
from tests.fakes import FakeClock
from tests.fixtures.azure import AzureFactory, AzureSandbox, msal_token


@pytest.fixture
def clocked(azure_factory: AzureFactory) -> tuple[AzureSandbox, FakeClock]:
    clock = FakeClock()
    return azure_factory(clock=clock), clock


def test_discovery_document_names_https_endpoints_in_the_tenant(azure: AzureSandbox) -> None:
    url = f"{azure.authority_host}/{azure.tenant}/v2.0/.well-known/openid-configuration"
    doc = requests.get(url, verify=str(azure.ca_path), timeout=5).json()
    assert doc["token_endpoint"] == f"{azure.authority_host}/{azure.tenant}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"].startswith(f"{azure.authority_host}/{azure.tenant}/")
    assert doc["issuer"] == f"{azure.authority_host}/{azure.tenant}/v2.0"


def test_msal_gets_a_management_token(azure: AzureSandbox) -> None:
    result = msal_token(azure)
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    claims = azure.entra.valid(result["access_token"])
    assert claims is not None
    assert (claims.aud, claims.tid, claims.appid) == (
        "https://management.azure.com",
        azure.tenant,
        azure.client_id,
    )
    assert azure.entra.issued == [claims]


def test_vault_scope_gives_a_vault_audience(azure: AzureSandbox) -> None:
    result = msal_token(azure, "https://vault.azure.net/.default")
    claims = azure.entra.valid(result["access_token"])
    assert claims is not None and claims.aud == "https://vault.azure.net"


@pytest.mark.parametrize(
    ("scope", "client_id", "secret", "error", "code"),
    [
        (None, None, "wrong-secret", "invalid_client", 7000215),
        (None, "11111111-2222-3333-4444-555555555555", None, "unauthorized_client", 700016),
        ("https://management.azure.com/user_impersonation", None, None, "invalid_scope", 1002012),
        ("https://unknown.example.com/.default", None, None, "invalid_scope", 70011),
    ],
    ids=["wrong-secret", "unknown-client", "scope-without-default", "unknown-resource"],
)
def test_token_errors_come_back_as_msal_dicts(
    azure: AzureSandbox, scope: str | None, client_id: str | None, secret: str | None, error: str, code: int
) -> None:
    result = msal_token(
        azure, scope or "https://management.azure.com/.default", client_id=client_id, secret=secret
    )
    assert "access_token" not in result
    assert result["error"] == error
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert result["error_codes"] == [code]
    assert result["trace_id"] and result["correlation_id"] and result["timestamp"]
    assert azure.entra.issued == []


def test_expired_secret(azure: AzureSandbox) -> None:
    azure.entra.add_client(azure.tenant, "22222222-3333-4444-5555-666666666666", "old", secret_expired=True)
    result = msal_token(azure, client_id="22222222-3333-4444-5555-666666666666", secret="old")
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000222]


def test_secret_never_echoed_in_errors(azure: AzureSandbox) -> None:
    result = msal_token(azure, secret="TopSecretValue123")
    assert "TopSecretValue123" not in str(result)


def test_unknown_tenant(azure: AzureSandbox) -> None:
    # msal reads the discovery document in its constructor: an unknown tenant fails right there.
    with pytest.raises(ValueError, match="double check your tenant"):
        msal.ConfidentialClientApplication(
            azure.client_id,
            client_credential=azure.client_secret,
            authority=f"{azure.authority_host}/no-such-tenant",
            instance_discovery=False,
        )
    discovery = requests.get(
        f"{azure.authority_host}/no-such-tenant/v2.0/.well-known/openid-configuration",
        verify=str(azure.ca_path),
        timeout=5,
    )
    assert discovery.status_code == 400
    assert discovery.json()["error_codes"] == [90002]
    reply = requests.post(
        f"{azure.authority_host}/no-such-tenant/oauth2/v2.0/token",
        data={"client_id": azure.client_id, "grant_type": "client_credentials", "scope": "x/.default"},
        verify=str(azure.ca_path),
        timeout=5,
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"
    assert reply.json()["error_codes"] == [90002]


def test_http_status_of_errors(azure: AzureSandbox) -> None:
    form = {
        "client_id": azure.client_id,
        "client_secret": "bad",
        "grant_type": "client_credentials",
        "scope": "https://management.azure.com/.default",
    }
    url = f"{azure.authority_host}/{azure.tenant}/oauth2/v2.0/token"
    assert requests.post(url, data=form, verify=str(azure.ca_path), timeout=5).status_code == 401
    form["client_id"] = "someone-else"
    assert requests.post(url, data=form, verify=str(azure.ca_path), timeout=5).status_code == 400


def test_expire_all_invalidates_old_tokens_only(clocked: tuple[AzureSandbox, FakeClock]) -> None:
    sandbox, _ = clocked  # the clock stays frozen: old and new tokens must still differ
    old = msal_token(sandbox)["access_token"]
    sandbox.entra.expire_all()
    assert sandbox.entra.valid(old) is None
    new = msal_token(sandbox)["access_token"]
    assert new != old
    assert sandbox.entra.valid(new) is not None


def test_tokens_expire_with_the_clock(clocked: tuple[AzureSandbox, FakeClock]) -> None:
    sandbox, clock = clocked
    token = msal_token(sandbox)["access_token"]
    clock.advance(3598)
    assert sandbox.entra.valid(token) is not None
    clock.advance(2)
    assert sandbox.entra.valid(token) is None


def test_foreign_tokens_are_refused(azure: AzureSandbox) -> None:
    good = msal_token(azure)["access_token"]
    body, _, signature = good.partition(".")
    assert azure.entra.valid(f"{body}.{signature[::-1]}") is None
    assert azure.entra.valid("not-a-token") is None
    assert tokens.verify(good) is not None


def test_a_token_endpoint_5xx_makes_msal_raise_and_replay_it(azure: AzureSandbox) -> None:
    """msal 1.39 raises MsalServiceError for a 5xx token reply (it returns dicts for 4xx), and a repeat
    within 5 s is answered from its throttle cache without a request (docs/contracts.md 3)."""
    app = msal.ConfidentialClientApplication(
        azure.client_id,
        client_credential=azure.client_secret,
        authority=f"{azure.authority_host}/{azure.tenant}",
        instance_discovery=False,
    )
    azure.entra.faults.only = "/oauth2/"
    azure.entra.faults.statuses.append(503)
    scopes = ["https://management.azure.com/.default"]
    with pytest.raises(msal.exceptions.MsalServiceError):
        app.acquire_token_for_client(scopes=scopes)
    posts = len([r for r in azure.entra.requests if r.path.endswith("/token")])
    with pytest.raises(msal.exceptions.MsalServiceError):
        app.acquire_token_for_client(scopes=scopes)  # the fault is spent; the cache answers
    assert len([r for r in azure.entra.requests if r.path.endswith("/token")]) == posts


def test_a_discovery_5xx_makes_msal_raise_in_its_constructor(azure: AzureSandbox) -> None:
    azure.entra.faults.only = "openid-configuration"
    azure.entra.faults.statuses.extend([503, 503])
    with pytest.raises(msal.exceptions.MsalServiceError):
        msal.ConfidentialClientApplication(
            azure.client_id,
            client_credential=azure.client_secret,
            authority=f"{azure.authority_host}/{azure.tenant}",
            instance_discovery=False,
        )
