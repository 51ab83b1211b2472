"""Azure Table Storage for the sync's state: where the table is, how it is reached, what refusals mean.

A Function App has a storage account of its own, named by the `AzureWebJobsStorage` settings; the state
uses the same account unless `state_storage` names another connection prefix. The Functions
conventions apply to that prefix P (docs/azure-function.md, "State"):

- `P` = a connection string (an account key or a SAS; locally `UseDevelopmentStorage=true` for Azurite);
- else `P__tableServiceUri` (any cloud) or `P__accountName` (global Azure) with an identity: the managed
  identity (`P__credential=managedidentity`, `P__clientId` for a user-assigned one), otherwise
  azure-identity's DefaultAzureCredential. The identity needs Storage Table Data Contributor.

Every SDK failure becomes one StateError sentence naming the table and the likely cause; a connection
string (it holds the account key) never appears in a message or a log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient

from misp_bridge.azure.keyvault import quiet_azure_logging
from misp_bridge.errors import StateError
from misp_bridge.output.redact import register_secret

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "AzureWebJobsStorage"
DEFAULT_TABLE = "misp2sentinel"
# Table names: 3-63 letters and digits, starting with a letter ("tables" is reserved).
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
_ACCOUNT = re.compile(r"(?:^|;)\s*AccountName=([^;]+)", re.IGNORECASE)
_ENDPOINT = re.compile(r"(?:^|;)\s*TableEndpoint=([^;]+)", re.IGNORECASE)
_KEY = re.compile(r"(?:^|;)\s*(?:AccountKey|SharedAccessSignature)=([^;]+)", re.IGNORECASE)
# Parallel point reads share one connection pool.
POOL = 32
# The SDK's own retries for 5xx, 408 and dropped connections (exponential, a few seconds in all).
_RETRIES = {"retry_total": 4, "retry_backoff_factor": 0.5, "retry_backoff_max": 8}


@dataclass(frozen=True)
class StorageTarget:
    """The state table and how to reach it (a connection string or an endpoint plus an identity)."""

    table: str
    endpoint: str  # the table service URL, for messages (never holds a key)
    connection_string: str | None = field(default=None, repr=False)
    managed_identity: bool = False
    client_id: str | None = None  # a user-assigned managed identity

    @property
    def where(self) -> str:
        return f"the state table {self.table} at {self.endpoint}"


def target_from(
    env: Mapping[str, str], prefix: str = DEFAULT_PREFIX, table: str = DEFAULT_TABLE
) -> StorageTarget:
    """The StorageTarget that app settings (or the environment) describe; StateError when none does."""
    connection = (env.get(prefix) or "").strip()
    if connection:
        register_secret(connection)
        for secret in _KEY.findall(connection):
            register_secret(secret)
        return StorageTarget(table, _endpoint_of(connection), connection_string=connection)
    uri = (env.get(f"{prefix}__tableServiceUri") or "").strip()
    account = (env.get(f"{prefix}__accountName") or "").strip()
    if not uri and account:
        uri = f"https://{account}.table.core.windows.net"
    if not uri:
        raise StateError(
            f"No storage account for the state table: set {prefix} (a connection string) or "
            f"{prefix}__accountName (with a managed identity)."
        )
    parts = urlsplit(uri)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise StateError(
            f"{prefix}__tableServiceUri must be an https:// URL, got {parts.scheme or 'none'}://"
        )
    managed = (env.get(f"{prefix}__credential") or "").strip().lower() == "managedidentity"
    client_id = (env.get(f"{prefix}__clientId") or "").strip() or None
    return StorageTarget(table, uri.rstrip("/"), managed_identity=managed, client_id=client_id)


def _endpoint_of(connection: str) -> str:
    if connection.replace(" ", "").lower().startswith("usedevelopmentstorage=true"):
        return "http://127.0.0.1:10002/devstoreaccount1 (UseDevelopmentStorage)"
    found = _ENDPOINT.search(connection)
    if found:
        return found.group(1).strip().rstrip("/")
    account = _ACCOUNT.search(connection)
    return (
        f"https://{account.group(1).strip()}.table.core.windows.net" if account else "the connection string"
    )


def _transport() -> RequestsTransport:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=True)


def table_client(target: StorageTarget, *, create: bool = True, **options: Any) -> TableClient:
    """A TableClient for the state table, the table created when missing unless `create` is False
    (StateError on failure)."""
    kwargs: dict[str, Any] = {"transport": _transport(), **_RETRIES, **options}
    quiet_azure_logging()  # the SDK logs every request and response at INFO
    try:
        if target.connection_string is not None:
            service = TableServiceClient.from_connection_string(target.connection_string, **kwargs)
        else:
            service = TableServiceClient(endpoint=target.endpoint, credential=_credential(target), **kwargs)
        if create:
            service.create_table_if_not_exists(target.table)
        return service.get_table_client(target.table)
    except ValueError:  # a connection string the SDK cannot read; its text may quote the key
        raise StateError(f"{target.where} cannot be used: the connection string is not valid.") from None
    except Exception as exc:
        raise translate(exc, target.where, "opened") from exc


def _credential(target: StorageTarget) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if target.managed_identity:
        return (
            ManagedIdentityCredential(client_id=target.client_id)
            if target.client_id
            else ManagedIdentityCredential()
        )
    if target.client_id:
        return DefaultAzureCredential(managed_identity_client_id=target.client_id)
    return DefaultAzureCredential()


# Service error codes -> what to do about them.
_CAUSES = {
    "AuthorizationPermissionMismatch": "the identity lacks the Storage Table Data Contributor role on "
    "the account",
    "AuthorizationFailure": "the account refused the request: a wrong account key or SAS, a firewall or "
    "network rule, or a missing role",
    "AuthenticationFailed": "the account key or SAS in the connection string is wrong or expired",
    "TableBeingDeleted": "the table is being deleted; try again in a minute or use another state_table",
    "OutOfRangeInput": "a value is out of range for Table Storage",
}


def translate(exc: BaseException, where: str, doing: str) -> StateError:
    """One sentence for any failure of the Tables SDK (or the identity behind it)."""
    if isinstance(exc, StateError):
        return exc
    if isinstance(exc, ClientAuthenticationError) and not isinstance(exc, HttpResponseError):
        return StateError(f"{where} could not be {doing}: the identity got no token ({_first_line(exc)}).")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return StateError(f"{where} could not be {doing}: the storage account could not be reached.")
    if isinstance(exc, HttpResponseError):
        found = getattr(exc, "error_code", None)
        code = str(getattr(found, "value", found) or "")  # the SDK gives an enum or a string
        cause = _CAUSES.get(code)
        if cause is None and isinstance(exc, ResourceNotFoundError):
            cause = "the table or the account does not exist"
        status = f"HTTP {exc.status_code}" if exc.status_code else "no status"
        detail = f"{status} {code}".strip()
        return StateError(f"{where} could not be {doing} ({detail}): {cause or _first_line(exc)}.")
    return StateError(f"{where} could not be {doing} ({type(exc).__name__}: {_first_line(exc)}).")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200].rstrip(".")


def probe(target: StorageTarget) -> tuple[bool, str]:
    """Read one row of the state table, writing nothing: (usable, one sentence)."""
    try:
        with table_client(target, create=False) as client:
            list(next(client.query_entities("PartitionKey eq 'lease'", results_per_page=1).by_page(), []))
    except ResourceNotFoundError:
        return True, f"{target.where} does not exist yet; the first run creates it"
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure as a sentence
        return False, str(translate(exc, target.where, "read"))
    return True, f"{target.where} answered (the identity can read it; the Function also writes it)"
