"""The Key Vault emulator keeps docs/contracts.md 6: the 401 challenge, the secret shapes, 403 and 404.

The raw wire shapes are checked with requests; the flow with the real azure-keyvault-secrets client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceResponseError
from azure.keyvault.secrets import SecretClient

from sandbox import tokens
from sandbox.keyvault import RESOURCE, KeyVaultApp
from tests.fixtures.keyvault import KeyVaultSandbox

API = {"api-version": "7.5"}


def client(kv: KeyVaultSandbox, **kwargs: Any) -> SecretClient:
    return SecretClient(kv.vault_url, kv.credential(), verify_challenge_resource=False, **kwargs)


def token_for(kv: KeyVaultSandbox, *, aud: str = RESOURCE, tenant: str | None = None, appid: str = "") -> str:
    return tokens.issue(aud, tenant or kv.tenant, appid or kv.client_id)


def get(kv: KeyVaultSandbox, path: str, token: str | None = None, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{kv.vault_url}{path}", params=params or API, headers=headers, verify=str(kv.ca_path), timeout=5
    )


def test_first_request_without_token_gets_the_exact_challenge(keyvault: KeyVaultSandbox) -> None:
    reply = get(keyvault, "/secrets/MISP-Key/")

    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{keyvault.authority_host}/{keyvault.tenant}", resource="https://vault.azure.net"'
    )
    assert reply.json()["error"]["code"] == "Unauthorized"


def test_secret_client_follows_the_challenge_and_reads_the_secret(keyvault: KeyVaultSandbox) -> None:
    secret = client(keyvault).get_secret("MISP-Key")

    assert secret.value == keyvault.secrets["MISP-Key"]
    assert secret.name == "MISP-Key"
    assert re.fullmatch(rf"{keyvault.vault_url}/secrets/MISP-Key/[0-9a-f]{{32}}", secret.id or "")
    assert secret.properties.enabled is True
    seen = [(r.path, r.header("authorization").split(" ")[0]) for r in keyvault.app.requests]
    assert seen == [("/secrets/MISP-Key/", ""), ("/secrets/MISP-Key/", "Bearer")]
    assert [claims.aud for claims in keyvault.entra.issued] == [RESOURCE]


def test_token_reply_carries_the_documented_fields(keyvault: KeyVaultSandbox) -> None:
    body = get(keyvault, "/secrets/ClientSecret/", token_for(keyvault)).json()

    assert set(body) == {"value", "id", "attributes", "tags"}
    assert body["value"] == keyvault.secrets["ClientSecret"]
    assert {"enabled", "created", "updated"} <= set(body["attributes"])
    assert body["tags"] == {}


def test_versions_latest_wins_and_old_ones_stay_readable(keyvault: KeyVaultSandbox) -> None:
    old = client(keyvault).get_secret("MISP-Key")
    new_version = keyvault.app.set_secret("MISP-Key", "rotated-misp-key-value")
    secrets = client(keyvault)

    assert secrets.get_secret("MISP-Key").value == "rotated-misp-key-value"
    assert secrets.get_secret("MISP-Key").properties.version == new_version
    assert secrets.get_secret("MISP-Key", old.properties.version).value == keyvault.secrets["MISP-Key"]


def test_secret_names_are_case_insensitive(keyvault: KeyVaultSandbox) -> None:
    secret = client(keyvault).get_secret("misp-key")

    assert secret.value == keyvault.secrets["MISP-Key"]
    assert secret.name == "MISP-Key"  # the id keeps the spelling the secret was created with


@pytest.mark.parametrize(
    ("name", "version", "shown"),
    [
        pytest.param("Missing", "", "Missing", id="unknown-name"),
        pytest.param("MISP-Key", "0" * 32, "MISP-Key/" + "0" * 32, id="unknown-version"),
    ],
)
def test_unknown_secret_is_404_secret_not_found(
    keyvault: KeyVaultSandbox, name: str, version: str, shown: str
) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client(keyvault).get_secret(name, version or None)

    assert caught.value.status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"
    assert f"A secret with (name/id) {shown} was not found in this key vault." in str(
        caught.value.error.message
    )


def test_app_without_get_permission_is_403(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.revoke(keyvault.client_id)

    with pytest.raises(HttpResponseError) as caught:
        client(keyvault).get_secret("MISP-Key")

    assert caught.value.status_code == 403
    assert caught.value.error is not None
    assert caught.value.error.code == "Forbidden"
    message = str(caught.value.error.message)
    assert message.startswith(f"The user, group or application 'appid={keyvault.client_id};")
    assert "does not have secrets get permission on key vault" in message


def test_list_only_permission_is_not_enough_to_get(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.allow(keyvault.client_id, ("list",))

    assert get(keyvault, "/secrets/MISP-Key/", token_for(keyvault)).status_code == 403


def _expire(kv: KeyVaultSandbox) -> str:
    token = token_for(kv)
    kv.entra.expire_all()
    return token


@pytest.mark.parametrize(
    ("make_token", "fragment"),
    [
        pytest.param(
            lambda kv: token_for(kv, aud="https://management.azure.com"), "AKV10022", id="wrong-audience"
        ),
        pytest.param(lambda kv: token_for(kv, tenant="another-tenant"), "AKV10032", id="wrong-tenant"),
        pytest.param(lambda kv: token_for(kv) + "x", "invalid", id="bad-signature"),
        pytest.param(_expire, "expired", id="expired"),
    ],
)
def test_unusable_token_is_401_with_the_challenge(
    keyvault: KeyVaultSandbox, make_token: Callable[[KeyVaultSandbox], str], fragment: str
) -> None:
    reply = get(keyvault, "/secrets/MISP-Key/", make_token(keyvault))

    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == keyvault.app.challenge
    assert fragment in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        pytest.param("/secrets/MISP-Key/", {"x": "1"}, 400, "BadParameter", id="no-api-version"),
        pytest.param("/secrets/bad_name/", API, 400, "BadParameter", id="invalid-name"),
        pytest.param("/secrets/MISP-Key/nothex", API, 400, "BadParameter", id="invalid-version"),
    ],
)
def test_malformed_requests_are_400(
    keyvault: KeyVaultSandbox, path: str, params: dict[str, str], status: int, code: str
) -> None:
    reply = get(keyvault, path, token_for(keyvault), **params)

    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


def test_disabled_secret_is_403(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.set_secret("Disabled", "value-of-disabled", enabled=False)

    with pytest.raises(HttpResponseError) as caught:
        client(keyvault).get_secret("Disabled")

    assert caught.value.status_code == 403
    assert "disabled secret" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        pytest.param(429, "Throttled", id="429"),
        pytest.param(500, "InternalServerError", id="500"),
        pytest.param(503, "ServiceUnavailable", id="503"),
    ],
)
def test_forced_statuses_use_the_vault_error_shape(keyvault: KeyVaultSandbox, status: int, code: str) -> None:
    keyvault.app.faults.statuses.extend([status])

    reply = get(keyvault, "/secrets/MISP-Key/", token_for(keyvault))

    assert reply.status_code == status
    assert reply.json()["error"]["code"] == code


def test_forced_error_reaches_the_client_after_its_retries(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.faults.only = r"^/secrets/"
    keyvault.app.faults.statuses.extend([503, 503])

    with pytest.raises(HttpResponseError) as caught:
        client(keyvault, retry_total=0).get_secret("MISP-Key")

    assert caught.value.status_code == 503


def test_down_vault_drops_the_connection(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.faults.down = True

    with pytest.raises(ServiceResponseError):
        client(keyvault, retry_total=0).get_secret("MISP-Key")


@pytest.mark.parametrize("name", ["", "under_score", "x" * 128], ids=["empty", "underscore", "too-long"])
def test_set_secret_rejects_names_the_service_would(keyvault: KeyVaultSandbox, name: str) -> None:
    with pytest.raises(ValueError, match="invalid Key Vault secret name"):
        keyvault.app.set_secret(name, "v")


def test_vault_url_can_be_pinned(keyvault: KeyVaultSandbox) -> None:
    app: KeyVaultApp = keyvault.app
    app.vault_url = "https://pinned.vault.azure.net"

    body = get(keyvault, "/secrets/MISP-Key/", token_for(keyvault)).json()

    assert body["id"].startswith("https://pinned.vault.azure.net/secrets/MISP-Key/")
