"""misp_bridge.azure.keyvault against the Entra ID and Key Vault emulators, through the real Azure clients."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.credentials import TokenCredential
from azure.identity import ClientSecretCredential, DefaultAzureCredential, EnvironmentCredential

from misp_bridge.azure import keyvault as kvmod
from misp_bridge.azure.keyvault import (
    CLIENT_SECRET_SECRET,
    MISP_KEY_SECRET,
    VaultSecrets,
    is_azure_vault,
    is_microsoft_authority,
    read_secrets,
    vault_url_for,
)
from misp_bridge.errors import KeyVaultError, KeyVaultUnavailable
from misp_bridge.output.redact import MASK, redact
from tests.fixtures.keyvault import KeyVaultSandbox

AZURE_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST")
# Every DefaultAzureCredential source except the environment: none of them may reach past loopback here.
ONLY_ENVIRONMENT = {
    f"exclude_{name}_credential": True
    for name in (
        "workload_identity",
        "managed_identity",
        "shared_token_cache",
        "visual_studio_code",
        "cli",
        "powershell",
        "developer_cli",
        "broker",
    )
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*AZURE_ENV, "AZURE_TOKEN_CREDENTIALS", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def use_env(monkeypatch: pytest.MonkeyPatch, kv: KeyVaultSandbox, **overrides: str) -> None:
    for name, value in {**kv.environ(), **overrides}.items():
        monkeypatch.setenv(name, value)


def fail(kv: KeyVaultSandbox, credential: TokenCredential | None = None, **kwargs: Any) -> KeyVaultError:
    with pytest.raises(KeyVaultError) as caught:
        read_secrets(kv.vault_url, credential=credential or kv.credential(), **kwargs)
    return caught.value


# -- vault URLs and hosts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "suffix", "expected"),
    [
        pytest.param("myvault", "vault.azure.net", "https://myvault.vault.azure.net", id="name"),
        pytest.param(
            " my-vault-01 ", "vault.azure.net", "https://my-vault-01.vault.azure.net", id="padded-name"
        ),
        pytest.param("cnvault", "vault.azure.cn", "https://cnvault.vault.azure.cn", id="other-cloud"),
        pytest.param(
            "https://kv1.vault.azure.net/", "vault.azure.net", "https://kv1.vault.azure.net", id="url"
        ),
        pytest.param("https://127.0.0.1:8443", "vault.azure.net", "https://127.0.0.1:8443", id="stand-in"),
    ],
)
def test_vault_url_for(given: str, suffix: str, expected: str) -> None:
    assert vault_url_for(given, suffix=suffix) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param(
            "http://kv1.vault.azure.net",
            "Key Vault URL http://kv1.vault.azure.net must be an https URL",
            id="http",
        ),
        pytest.param("https://", "Key Vault URL https:// must be an https URL", id="no-host"),
        pytest.param("", "Key Vault name '' is not valid", id="empty"),
        pytest.param("kv", "Key Vault name 'kv' is not valid", id="too-short"),
        pytest.param("a" * 25, "is not valid", id="too-long"),
        pytest.param("1vault", "Key Vault name '1vault' is not valid", id="leading-digit"),
        pytest.param("my--vault", "is not valid", id="double-dash"),
        pytest.param("vault-", "is not valid", id="trailing-dash"),
        pytest.param("my_vault", "is not valid", id="underscore"),
    ],
)
def test_vault_url_for_rejects(given: str, message: str) -> None:
    with pytest.raises(KeyVaultError) as caught:
        vault_url_for(given)
    assert str(caught.value).startswith("Key Vault ")
    assert message in str(caught.value)


def test_http_vault_is_refused_before_any_request(keyvault: KeyVaultSandbox) -> None:
    plain = keyvault.vault_url.replace("https://", "http://")

    with pytest.raises(KeyVaultError, match="must be an https URL"):
        read_secrets(plain, credential=keyvault.credential())
    assert keyvault.app.requests == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://kv1.vault.azure.net", True, id="public"),
        pytest.param("https://kv1.vault.usgovcloudapi.net", True, id="government"),
        pytest.param("https://127.0.0.1:8443", False, id="loopback"),
        pytest.param("https://vault.azure.net.evil.example", False, id="lookalike"),
    ],
)
def test_is_azure_vault(url: str, expected: bool) -> None:
    assert is_azure_vault(url) is expected


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        pytest.param("https://login.microsoftonline.com", True, id="public-url"),
        pytest.param("login.microsoftonline.us", True, id="government-host"),
        pytest.param("https://127.0.0.1:9443", False, id="sandbox"),
        pytest.param("https://login.microsoftonline.com/6f1d2c3b-tenant", True, id="with-tenant-path"),
        pytest.param("https://login.chinacloudapi.cn", True, id="china"),
        pytest.param("https://login.microsoftonline.com.evil.example", False, id="look-alike"),
    ],
)
def test_is_microsoft_authority(authority: str, expected: bool) -> None:
    assert is_microsoft_authority(authority) is expected


def test_vault_secrets_repr_hides_values() -> None:
    secrets = VaultSecrets(misp_key="misp-key-value-123", client_secret="client-secret-value-456")

    assert repr(secrets) == f"VaultSecrets(misp_key='{MASK}', client_secret='{MASK}')"
    assert "value" not in str(secrets)


# -- reading -------------------------------------------------------------------------------------


def test_reads_both_secrets_through_the_challenge(keyvault: KeyVaultSandbox) -> None:
    secrets = read_secrets(keyvault.vault_url, credential=keyvault.credential())

    assert secrets.misp_key == keyvault.secrets[MISP_KEY_SECRET]
    assert secrets.client_secret == keyvault.secrets[CLIENT_SECRET_SECRET]
    calls = [(r.path, bool(r.header("authorization"))) for r in keyvault.app.requests]
    assert calls == [
        ("/secrets/MISP-Key/", False),
        ("/secrets/MISP-Key/", True),
        ("/secrets/ClientSecret/", True),
    ]


def test_default_credential_from_environment(
    keyvault: KeyVaultSandbox, clean_env: pytest.MonkeyPatch
) -> None:
    use_env(clean_env, keyvault)

    secrets = read_secrets(keyvault.vault_url)

    assert secrets.misp_key == keyvault.secrets[MISP_KEY_SECRET]
    assert [c.appid for c in keyvault.entra.issued] == [keyvault.client_id]


def test_default_credential_with_authority_host_argument(
    keyvault: KeyVaultSandbox, clean_env: pytest.MonkeyPatch
) -> None:
    use_env(clean_env, keyvault)
    clean_env.delenv("AZURE_AUTHORITY_HOST")

    secrets = read_secrets(keyvault.vault_url, authority_host=keyvault.authority_host)

    assert secrets.client_secret == keyvault.secrets[CLIENT_SECRET_SECRET]


def test_other_secret_names(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.set_secret("Misp-Key-Prod", "prod-misp-key-value")
    keyvault.app.set_secret("Sentinel-Secret", "prod-sentinel-value")

    secrets = read_secrets(
        keyvault.vault_url, credential=keyvault.credential(), names=("Misp-Key-Prod", "Sentinel-Secret")
    )

    assert (secrets.misp_key, secrets.client_secret) == ("prod-misp-key-value", "prod-sentinel-value")


def test_values_read_are_registered_with_the_redactor(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.set_secret(MISP_KEY_SECRET, "fresh-misp-key-never-logged")

    read_secrets(keyvault.vault_url, credential=keyvault.credential())

    assert redact("key is fresh-misp-key-never-logged") == f"key is {MASK}"


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [MISP_KEY_SECRET, CLIENT_SECRET_SECRET])
def test_missing_secret_is_named(keyvault: KeyVaultSandbox, missing: str) -> None:
    keyvault.app.delete_secret(missing)

    error = fail(keyvault)

    assert str(error) == f"Key Vault {keyvault.vault_url}: secret '{missing}' not found"
    assert not isinstance(error, KeyVaultUnavailable)


def test_empty_secret_is_an_error(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.set_secret(CLIENT_SECRET_SECRET, "")

    assert str(fail(keyvault)) == f"Key Vault {keyvault.vault_url}: secret 'ClientSecret' is empty"


def test_denied_names_the_missing_permission(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.revoke(keyvault.client_id)

    assert str(fail(keyvault)) == (
        f"Key Vault {keyvault.vault_url}: access denied to secret 'MISP-Key'; give the identity the Get "
        "secret permission in the vault's access policy (or the Key Vault Secrets User role)"
    )


def _wrong_secret(kv: KeyVaultSandbox) -> TokenCredential:
    return kv.credential(secret="not-the-secret")


def _expired_secret(kv: KeyVaultSandbox) -> TokenCredential:
    kv.entra.add_client(kv.tenant, kv.client_id, kv.client_secret, secret_expired=True)
    return kv.credential()


def _unknown_client(kv: KeyVaultSandbox) -> TokenCredential:
    return ClientSecretCredential(
        kv.tenant,
        "unknown-client",
        kv.client_secret,
        authority=kv.authority_host,
        disable_instance_discovery=True,
    )


@pytest.mark.parametrize(
    ("make_credential", "problem"),
    [
        pytest.param(_wrong_secret, "the client secret is wrong (AADSTS7000215)", id="wrong-secret"),
        pytest.param(_expired_secret, "the client secret has expired (AADSTS7000222)", id="expired-secret"),
        pytest.param(
            _unknown_client,
            "the client id is not registered in that tenant (AADSTS700016)",
            id="unknown-client",
        ),
    ],
)
def test_token_refusal_is_one_clear_sentence(
    keyvault: KeyVaultSandbox, make_credential: Callable[[KeyVaultSandbox], TokenCredential], problem: str
) -> None:
    error = fail(keyvault, make_credential(keyvault))

    assert str(error) == (
        f"Key Vault {keyvault.vault_url}: could not get a token to read secret 'MISP-Key': {problem}"
    )


def test_wrong_secret_through_default_credential(
    keyvault: KeyVaultSandbox, clean_env: pytest.MonkeyPatch
) -> None:
    use_env(clean_env, keyvault, AZURE_CLIENT_SECRET="wrong-env-secret")

    with pytest.raises(KeyVaultError, match=r"the client secret is wrong \(AADSTS7000215\)$") as caught:
        read_secrets(keyvault.vault_url)
    assert "wrong-env-secret" not in str(caught.value)


def test_vault_in_another_tenant(keyvault: KeyVaultSandbox) -> None:
    keyvault.entra.add_client("other-tenant", keyvault.client_id, keyvault.client_secret)
    keyvault.app.tenant = "other-tenant"

    assert str(fail(keyvault)).endswith(
        "could not get a token to read secret 'MISP-Key': the vault belongs to tenant other-tenant, "
        "not to the identity's tenant"
    )


@pytest.mark.parametrize(
    "make_credential",
    [
        pytest.param(EnvironmentCredential, id="environment"),
        pytest.param(lambda: DefaultAzureCredential(**ONLY_ENVIRONMENT), id="default-chain"),
    ],
)
def test_no_credential_available(
    keyvault: KeyVaultSandbox, clean_env: pytest.MonkeyPatch, make_credential: Callable[[], TokenCredential]
) -> None:
    error = fail(keyvault, make_credential())

    assert str(error) == (
        f"Key Vault {keyvault.vault_url}: no Azure credential is available to read secret 'MISP-Key'; "
        "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or run on an Azure VM with a "
        "managed identity"
    )


def test_vault_dropping_connections_is_unavailable(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.faults.down = True

    error = fail(keyvault)

    assert isinstance(error, KeyVaultUnavailable)
    assert str(error) == f"Key Vault {keyvault.vault_url} could not be reached to read secret 'MISP-Key'"


def test_nothing_listening_is_unavailable(keyvault: KeyVaultSandbox) -> None:
    with pytest.raises(KeyVaultUnavailable, match=r"^Key Vault https://127\.0\.0\.1:1 could not be reached"):
        read_secrets("https://127.0.0.1:1", credential=keyvault.credential())


def test_slow_vault_hits_the_timeout(keyvault: KeyVaultSandbox) -> None:
    keyvault.app.faults.latency = 1.0
    started = time.monotonic()

    error = fail(keyvault, timeout=0.2)

    assert isinstance(error, KeyVaultUnavailable)
    assert time.monotonic() - started < 3  # three tries of 0.2 s plus short back-offs, not the 1 s replies


@pytest.mark.parametrize(
    "make_credential",
    [
        pytest.param(
            lambda kv: read_secrets(kv.vault_url, credential=kv.credential(retry_total=0)), id="client-secret"
        ),
        pytest.param(lambda kv: read_secrets(kv.vault_url), id="default-chain"),
    ],
)
def test_token_endpoint_down_is_unavailable(
    keyvault: KeyVaultSandbox,
    clean_env: pytest.MonkeyPatch,
    make_credential: Callable[[KeyVaultSandbox], VaultSecrets],
) -> None:
    use_env(clean_env, keyvault)
    keyvault.entra.faults.down = True

    with pytest.raises(KeyVaultUnavailable) as caught:
        make_credential(keyvault)

    assert str(caught.value) == (
        f"Key Vault {keyvault.vault_url}: the Entra ID token endpoint could not be reached to read "
        "secret 'MISP-Key'"
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        pytest.param(503, KeyVaultUnavailable, id="503"),
        pytest.param(429, KeyVaultUnavailable, id="429"),
        pytest.param(400, KeyVaultError, id="400"),
    ],
)
def test_other_statuses(keyvault: KeyVaultSandbox, status: int, kind: type[KeyVaultError]) -> None:
    keyvault.app.faults.only = "^/secrets/"
    keyvault.app.faults.statuses.extend([status] * 4)  # outlasts the client's retries

    error = fail(keyvault)

    assert type(error) is kind
    assert (
        str(error) == f"Key Vault {keyvault.vault_url} answered HTTP {status} when reading secret 'MISP-Key'"
    )


# -- secrets stay out of logs and messages ---------------------------------------------------------


def _secrets_of(kv: KeyVaultSandbox) -> list[str]:
    return [kv.client_secret, *kv.secrets.values()]


def test_debug_logging_never_shows_secrets_or_tokens(
    keyvault: KeyVaultSandbox, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with the SDK's loggers forced to DEBUG, the values and the bearer token stay out.
    monkeypatch.setattr(kvmod, "quiet_azure_logging", lambda: None)
    for name in ("azure", "msal", "urllib3", *kvmod._NOISY_LOGGERS):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    caplog.set_level(logging.DEBUG)

    read_secrets(keyvault.vault_url, credential=keyvault.credential())

    assert "Request headers" in caplog.text  # the SDK did log, so the check below means something
    for value in _secrets_of(keyvault):
        assert value not in caplog.text
    assert "Bearer ey" not in caplog.text


def test_sdk_request_logging_is_silenced(
    keyvault: KeyVaultSandbox, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in kvmod._NOISY_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    caplog.set_level(logging.DEBUG)

    read_secrets(keyvault.vault_url, credential=keyvault.credential())

    noisy = [
        r for r in caplog.records if r.name.startswith(("azure.core", "azure.identity", "azure.keyvault"))
    ]
    assert [r.getMessage() for r in noisy if r.levelno < logging.WARNING] == []


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda kv: kv.app.revoke(kv.client_id), id="denied"),
        pytest.param(lambda kv: kv.app.delete_secret(CLIENT_SECRET_SECRET), id="second-missing"),
        pytest.param(lambda kv: kv.app.faults.statuses.extend([500] * 4), id="server-error"),
    ],
)
def test_failures_never_show_secrets(
    keyvault: KeyVaultSandbox, caplog: pytest.LogCaptureFixture, breakage: Callable[[KeyVaultSandbox], None]
) -> None:
    caplog.set_level(logging.DEBUG)
    breakage(keyvault)

    error = fail(keyvault)

    for value in _secrets_of(keyvault):
        assert value not in str(error)
        assert value not in caplog.text


def test_success_is_logged_by_name_only(keyvault: KeyVaultSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="misp_bridge.azure.keyvault")

    read_secrets(keyvault.vault_url, credential=keyvault.credential())

    lines = [r.getMessage() for r in caplog.records if r.name == "misp_bridge.azure.keyvault"]
    assert lines == [f"read secrets 'MISP-Key' and 'ClientSecret' from Key Vault {keyvault.vault_url}"]
