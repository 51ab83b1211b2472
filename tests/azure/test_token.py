"""TokenProvider against the Entra ID sandbox, with msal doing the real client-credentials flow."""

from __future__ import annotations

import logging

import pytest

from misp_bridge.azure.token import AADSTS_EXPLAINED, TokenProvider, explain
from misp_bridge.errors import AuthError, SentinelUnavailable
from tests.fixtures.azure import AzureSandbox

OTHER_CLIENT = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"


def provider(azure: AzureSandbox, **over: str) -> TokenProvider:
    settings = {
        "tenant": azure.tenant,
        "client_id": azure.client_id,
        "client_secret": azure.client_secret,
        "authority_host": azure.authority_host,
    }
    settings.update(over)
    return TokenProvider(**settings, verify=str(azure.ca_path), timeout=5.0, sleep=SLEEPS.append)


SLEEPS: list[float] = []  # back-off waits asked for by the providers above (no real waiting)


def test_a_token_from_the_sandbox_is_accepted_by_it(azure: AzureSandbox) -> None:
    token = provider(azure).token()
    claims = azure.entra.valid(token)
    assert claims is not None
    assert claims.appid == azure.client_id
    assert claims.aud.rstrip("/") == "https://management.azure.com"


def test_the_token_is_cached_between_calls(azure: AzureSandbox) -> None:
    tokens = provider(azure)
    first = tokens.token()
    assert tokens.token() == first
    assert len(azure.entra.issued) == 1


@pytest.mark.parametrize(
    ("over", "code", "expired"),
    [
        pytest.param({"client_secret": "wrong-secret-9Zz~"}, 7000215, False, id="wrong-secret"),
        pytest.param({}, 7000222, True, id="expired-secret"),
        pytest.param({"client_id": OTHER_CLIENT}, 700016, False, id="unknown-client"),
        pytest.param(
            {"scope": "https://management.azure.com/user_impersonation"}, 1002012, False, id="bad-scope"
        ),
        pytest.param({"scope": "https://nowhere.example/.default"}, 70011, False, id="unknown-resource"),
    ],
)
def test_each_aadsts_error_becomes_an_explained_auth_error(
    azure: AzureSandbox, caplog: pytest.LogCaptureFixture, over: dict[str, str], code: int, expired: bool
) -> None:
    if expired:
        azure.entra.add_client(azure.tenant, azure.client_id, azure.client_secret, secret_expired=True)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as caught:
        provider(azure, **over).token()
    message = str(caught.value)
    assert f"AADSTS{code}: {AADSTS_EXPLAINED[code]}" in message
    assert azure.client_secret not in message
    assert "wrong-secret-9Zz~" not in message
    assert "\n" not in message
    assert azure.client_secret not in caplog.text
    assert "wrong-secret-9Zz~" not in caplog.text


def test_an_unknown_tenant_is_an_auth_error_naming_the_authority(azure: AzureSandbox) -> None:
    missing = "00000000-1111-4222-8333-444444444444"
    with pytest.raises(AuthError) as caught:
        provider(azure, tenant=missing).token()
    assert missing in str(caught.value)
    assert azure.client_secret not in str(caught.value)


def test_entra_down_is_sentinel_unavailable(azure: AzureSandbox) -> None:
    azure.entra.faults.down = True
    with pytest.raises(SentinelUnavailable) as caught:
        provider(azure).token()
    assert azure.authority_host in str(caught.value)
    assert not isinstance(caught.value, AuthError)


def test_entra_down_after_discovery_is_sentinel_unavailable(azure: AzureSandbox) -> None:
    tokens = provider(azure)
    tokens.token()
    azure.entra.faults.down = True
    with pytest.raises(SentinelUnavailable):
        tokens.token(refresh=True)


def test_refresh_after_expire_all_gives_a_new_working_token(azure: AzureSandbox) -> None:
    tokens = provider(azure)
    old = tokens.token()
    azure.entra.expire_all()
    assert azure.entra.valid(old) is None
    assert tokens.token() == old  # msal still trusts its cache: only a 401 tells us otherwise
    new = tokens.token(refresh=True)
    assert new != old
    assert azure.entra.valid(new) is not None


def test_an_http_authority_is_refused_in_a_sentence(azure: AzureSandbox) -> None:
    http_host = azure.authority_host.replace("https://", "http://")
    with pytest.raises(AuthError) as caught:
        provider(azure, authority_host=http_host).token()
    assert "authority" in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param({"error_codes": [7000215]}, f"AADSTS7000215: {AADSTS_EXPLAINED[7000215]}", id="codes"),
        pytest.param(
            {"error_description": "AADSTS90002: Tenant 'x' not found.\nTrace ID: 1"},
            f"AADSTS90002: {AADSTS_EXPLAINED[90002]}",
            id="code-in-text",
        ),
        pytest.param(
            {"error_description": "AADSTS12345: Something new.\nTrace ID: 1"},
            "AADSTS12345: Something new.",
            id="unknown-code-first-line",
        ),
        pytest.param({}, "no token in the reply", id="empty"),
    ],
)
def test_explain(reply: dict[str, object], expected: str) -> None:
    assert explain(reply) == expected


def test_the_configured_ca_bundle_wins_over_requests_ca_bundle(
    azure: AzureSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine-wide REQUESTS_CA_BUNDLE (certifi's here, which lacks the sandbox CA) must not override
    ms_ca_bundle: requests lets the environment replace a session's verify unless it is pinned."""
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    assert azure.entra.valid(provider(azure).token()) is not None


@pytest.mark.parametrize("where", ["token", "discovery"])
def test_entra_5xx_is_retried_on_a_fresh_application_then_gives_a_token(
    azure: AzureSandbox, where: str
) -> None:
    """Finding 9: msal raises MsalServiceError for a 5xx (and replays it from its throttle cache for
    5 s); it escaped as "unexpected MsalServiceError", exit 1, every workspace stopped."""
    azure.entra.faults.only = "/oauth2/" if where == "token" else "openid-configuration"
    azure.entra.faults.statuses.extend([503, 500])
    SLEEPS.clear()

    token = provider(azure).token()

    assert azure.entra.valid(token) is not None
    assert len(SLEEPS) == 2 and all(0 < wait <= 30 for wait in SLEEPS)


def test_entra_5xx_that_persists_is_sentinel_unavailable_in_one_sentence(azure: AzureSandbox) -> None:
    azure.entra.faults.only = "/oauth2/"
    azure.entra.faults.statuses.extend([503] * 10)
    SLEEPS.clear()
    with pytest.raises(SentinelUnavailable) as caught:
        provider(azure).token()
    message = str(caught.value)
    assert (
        message == f"Entra ID at {azure.authority_host}/{azure.tenant} failed (HTTP Error: 503) (4 attempts)"
    )
    assert not isinstance(caught.value, AuthError)
    assert len(SLEEPS) == 3
    token_posts = [r for r in azure.entra.requests if r.path.endswith("/token")]
    assert len(token_posts) == 4  # each attempt reached Entra ID: no replay from msal's throttle cache


def test_a_temporarily_unavailable_reply_is_retried(azure: AzureSandbox) -> None:
    azure.entra.faults.only = "/oauth2/"
    azure.entra.faults.statuses.append(429)  # Entra's 429 body: error temporarily_unavailable
    assert azure.entra.valid(provider(azure).token()) is not None
