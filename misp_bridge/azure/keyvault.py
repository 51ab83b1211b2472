"""Secrets from Azure Key Vault: the MISP API key and the Sentinel app's client secret.

As in the original tool, the vault is used when `key_vault_name` is set, and holds two secrets,
`MISP-Key` and `ClientSecret`. The identity reading it is azure-identity's DefaultAzureCredential (a
managed identity on an Azure VM, or AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET), unless the
caller passes a credential. Every Azure SDK failure becomes one `KeyVaultError` sentence that names the
vault and the secret, never a value; every value read is registered with the log redactor. A CA bundle
(the sync's `ms_ca_bundle`) is what both the vault's and its token endpoint's certificates are checked
against, as for every other Microsoft endpoint; a certificate refused is said as such (TLS, the host).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError, DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from misp_bridge.azure.authority import is_microsoft_authority
from misp_bridge.errors import KeyVaultError, KeyVaultUnavailable, tls_sentence, untrusted_certificate
from misp_bridge.output.redact import MASK, register_secret

log = logging.getLogger(__name__)

MISP_KEY_SECRET = "MISP-Key"  # noqa: S105 - a secret name, not a secret
CLIENT_SECRET_SECRET = "ClientSecret"  # noqa: S105 - a secret name

# Vault DNS suffixes of the Azure clouds: their challenge resource matches the vault host, so the SDK's
# check that the challenge really comes from Key Vault stays on there.
VAULT_DNS_SUFFIXES = ("vault.azure.net", "vault.azure.cn", "vault.usgovcloudapi.net")

# The SDK logs every request and response at INFO; a run must not fill its log with that.
_NOISY_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "azure.keyvault")
# Key Vault names: 3-24 letters, digits and single dashes, starting with a letter.
_VAULT_NAME = re.compile(r"[A-Za-z](?:-?[A-Za-z0-9])+\Z")
_AADSTS = re.compile(r"AADSTS(\d+)")
_OTHER_TENANT = re.compile(r"not configured to acquire tokens for tenant ([\w.-]+?)\.?(?:\s|$)")
# DefaultAzureCredential folds its sources' errors into one message without a cause: read the text.
_NETWORK_TEXT = re.compile(
    r"Connection (?:aborted|refused|reset)|Failed to establish a new connection|timed out|"
    r"Max retries exceeded|RemoteDisconnected|Name or service not known|Temporary failure in name resolution"
)
# The SDK's default retry budget (ten tries, growing back-off) outlasts the plugin's 15 s alert window.
_RETRIES = {"retry_total": 2, "retry_backoff_factor": 0.2, "retry_backoff_max": 2}

# Entra ID error codes a misconfigured identity runs into, in words.
AADSTS_PROBLEMS = {
    "7000215": "the client secret is wrong",
    "7000222": "the client secret has expired",
    "700016": "the client id is not registered in that tenant",
    "90002": "the tenant was not found",
    "900023": "the tenant id is not a valid tenant",
    "70011": "the requested scope is not valid",
}


@dataclass(frozen=True)
class VaultSecrets:
    """The two secrets the tools read from the vault."""

    misp_key: str
    client_secret: str

    def __repr__(self) -> str:
        return f"VaultSecrets(misp_key='{MASK}', client_secret='{MASK}')"


def vault_url_for(name_or_url: str, *, suffix: str = "vault.azure.net") -> str:
    """`myvault` -> `https://myvault.vault.azure.net`; an https URL passes through (without a final /)."""
    text = name_or_url.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise KeyVaultError(f"Key Vault URL {text} must be an https URL")
        return text.rstrip("/")
    if not (3 <= len(text) <= 24 and _VAULT_NAME.match(text)):
        raise KeyVaultError(
            f"Key Vault name {text!r} is not valid: use 3-24 letters, digits and single dashes, "
            "starting with a letter"
        )
    return f"https://{text}.{suffix}"


def quiet_azure_logging() -> None:
    """Keep the Azure SDK's per-request INFO lines (URLs, header names) out of the logs."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def is_azure_vault(vault_url: str) -> bool:
    host = (urlsplit(vault_url).hostname or "").lower()
    return any(host.endswith("." + suffix) for suffix in VAULT_DNS_SUFFIXES)


def default_credential(
    authority_host: str | None = None, *, timeout: float = 10.0, ca_bundle: str | None = None
) -> DefaultAzureCredential:
    """DefaultAzureCredential; a non-Microsoft authority host (a stand-in) skips instance discovery."""
    options: dict[str, Any] = {"connection_timeout": timeout, "read_timeout": timeout, **_RETRIES}
    if ca_bundle:
        options["connection_verify"] = ca_bundle
    if authority_host:
        options["authority"] = authority_host
    authority = authority_host or os.environ.get("AZURE_AUTHORITY_HOST") or ""
    if authority and not is_microsoft_authority(authority):
        # Otherwise msal asks the real login.microsoftonline.com about the stand-in host.
        options["disable_instance_discovery"] = True
    return DefaultAzureCredential(**options)


def vault_authority(ms_authority_host: str, env: Mapping[str, str] | None = None) -> str:
    """The Entra ID host for the vault's credential: AZURE_AUTHORITY_HOST when set (azure-identity's own
    setting), else the sync's ms_authority_host (the vault lives in the same cloud as the workspaces)."""
    return (os.environ if env is None else env).get("AZURE_AUTHORITY_HOST") or ms_authority_host


def read_secrets(
    vault_url: str,
    *,
    credential: TokenCredential | None = None,
    authority_host: str | None = None,
    names: tuple[str, str] = (MISP_KEY_SECRET, CLIENT_SECRET_SECRET),
    timeout: float = 10.0,
    ca_bundle: str | None = None,
) -> VaultSecrets:
    """Read the MISP key and the client secret (secret names `names`) from the vault.

    `vault_url` may also be a bare vault name. `timeout` bounds each connect and each read.
    Raises KeyVaultError (KeyVaultUnavailable when the vault or Entra ID cannot be reached).
    `ca_bundle`: the only CAs trusted for the vault and its token endpoint (None: the system's, or
    REQUESTS_CA_BUNDLE).
    """
    url = vault_url_for(vault_url)
    quiet_azure_logging()
    owned: DefaultAzureCredential | None = None  # closed here; a caller's credential is the caller's
    if credential is None:
        credential = owned = default_credential(authority_host, timeout=timeout, ca_bundle=ca_bundle)
    client = SecretClient(
        url,
        credential,
        verify_challenge_resource=is_azure_vault(url),
        logging_enable=False,  # the network trace policy would print request headers and bodies
        connection_timeout=timeout,
        read_timeout=timeout,
        **({"connection_verify": ca_bundle} if ca_bundle else {}),
        **_RETRIES,
    )
    try:
        with client:
            misp_key, client_secret = (_read(client, url, name) for name in names)
    finally:
        if owned is not None:
            owned.close()
    log.info("read secrets %s from Key Vault %s", " and ".join(repr(n) for n in names), url)
    return VaultSecrets(misp_key=misp_key, client_secret=client_secret)


def _read(client: SecretClient, url: str, name: str) -> str:
    try:
        value = client.get_secret(name).value
    except AzureError as exc:
        raise _translate(exc, url, name) from exc
    except ValueError as exc:  # the SDK raises this when the 401 challenge is not Key Vault's
        raise KeyVaultError(
            f"Key Vault {url}: the server's authentication challenge is not Key Vault's; check the vault URL"
        ) from exc
    if not value:
        raise KeyVaultError(f"Key Vault {url}: secret '{name}' is empty")
    register_secret(value)
    return value


def _http_problem(exc: AzureError, url: str, name: str) -> KeyVaultError:
    status = getattr(exc, "status_code", None) or 0
    sentence = _HTTP_PROBLEMS.get(status)
    if sentence is not None:
        return KeyVaultError(f"Key Vault {url}: {sentence.format(name=name)}")
    kind = KeyVaultUnavailable if status == 429 or status >= 500 else KeyVaultError
    return kind(f"Key Vault {url} answered HTTP {status} when reading secret '{name}'")


def _unreachable(exc: AzureError, url: str, name: str) -> KeyVaultError:
    return KeyVaultUnavailable(f"Key Vault {url} could not be reached to read secret '{name}'")


def _no_credential(exc: AzureError, url: str, name: str) -> KeyVaultError:
    return KeyVaultError(
        f"Key Vault {url}: no Azure credential is available to read secret '{name}'; set AZURE_TENANT_ID, "
        "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or run on an Azure VM with a managed identity"
    )


def _authentication_problem(exc: AzureError, url: str, name: str) -> KeyVaultError:
    """A 401 from the vault itself, Entra ID refusing the credential, no reachable or configured source."""
    if getattr(exc, "response", None) is not None:
        return _http_problem(exc, url, name)
    text = str(exc)
    if aadsts := _AADSTS.search(text):
        code = aadsts.group(1)
        problem = f"{AADSTS_PROBLEMS.get(code, 'Entra ID refused the credential')} (AADSTS{code})"
    elif tenant := _OTHER_TENANT.search(text):
        problem = f"the vault belongs to tenant {tenant.group(1)}, not to the identity's tenant"
    elif _network_cause(exc) or _NETWORK_TEXT.search(text):
        return KeyVaultUnavailable(
            f"Key Vault {url}: the Entra ID token endpoint could not be reached to read secret '{name}'"
        )
    elif "unavailable" in text:  # DefaultAzureCredential tried every source and none was configured
        return _no_credential(exc, url, name)
    else:
        problem = "Entra ID refused the credential"
    return KeyVaultError(f"Key Vault {url}: could not get a token to read secret '{name}': {problem}")


def _network_cause(exc: BaseException) -> bool:
    """Whether a connection failure lies under this error (azure-identity wraps them)."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_HTTP_PROBLEMS = {
    401: "the vault refused the token for secret '{name}'; the identity must belong to the vault's tenant",
    403: "access denied to secret '{name}'; give the identity the Get secret permission in the vault's "
    "access policy (or the Key Vault Secrets User role)",
    404: "secret '{name}' not found",
}

# First match wins, so subclasses come before their bases: CredentialUnavailableError is a
# ClientAuthenticationError, which is an HttpResponseError.
_TRANSLATIONS: tuple[tuple[type[AzureError], Callable[[AzureError, str, str], KeyVaultError]], ...] = (
    (CredentialUnavailableError, _no_credential),
    (ServiceRequestError, _unreachable),
    (ServiceResponseError, _unreachable),
    (ClientAuthenticationError, _authentication_problem),
    (HttpResponseError, _http_problem),
)


def _translate(exc: AzureError, url: str, name: str) -> KeyVaultError:
    refused = untrusted_certificate(exc)
    if refused is not None:  # the vault's certificate, or its token endpoint's
        host = urlsplit(refused[0] or url).netloc
        return KeyVaultError(
            f"Key Vault {url}: cannot read secret '{name}': {tls_sentence(host, 'ms_ca_bundle', refused[1])}"
        )
    for kind, make in _TRANSLATIONS:
        if isinstance(exc, kind):
            return make(exc, url, name)
    return KeyVaultError(f"Key Vault {url}: reading secret '{name}' failed ({type(exc).__name__})")
