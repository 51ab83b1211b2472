"""config.py / constants.py loading: defaults, every kind of issue (exact sentences), secrets, lookups."""

from __future__ import annotations

import logging
import os
import runpy
import shutil
from pathlib import Path
from typing import Any

import pytest

from misp_bridge.config import Issue, Settings, Workspace, inspect_config, load_settings
from misp_bridge.config import load as settings_module
from misp_bridge.config.defaults import BUILTIN_CONSTANTS
from misp_bridge.config.locate import Lookup
from misp_bridge.errors import ConfigError, ConfigErrors, ConfigFileError

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent
SAMPLES = TESTS / "data" / "configs"

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
WORKSPACE = "99999999-8888-7777-6666-555555555555"
CLIENT_SECRET = "s3cret-client-value"
MISP_KEY = "s3cret-misp-key-value"

MINIMAL = f"""
ms_auth = {{
    "tenant": "{TENANT}",
    "client_id": "{CLIENT}",
    "client_secret": "{CLIENT_SECRET}",
    "workspace_id": "{WORKSPACE}",
}}
misp_key = "{MISP_KEY}"
misp_domain = "https://misp.example.com"
"""


def write_config(directory: Path, body: str, *, mode: int = 0o600) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.py"
    path.write_text(body, encoding="utf-8")
    path.chmod(mode)
    return path


def copy_sample(name: str, tmp_path: Path) -> Path:
    """Samples are copied so that log/state directories and the file mode are the test's own."""
    target = tmp_path / name
    shutil.copytree(SAMPLES / name, target)
    (target / "config.py").chmod(0o600)
    return target / "config.py"


def sentences(issues: list[Issue]) -> list[str]:
    return [str(issue) for issue in issues]


def errors(issues: list[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.severity == "error"]


# --- the shipped default file -----------------------------------------------------------------------


def test_default_file_with_real_values_loads_cleanly(tmp_path: Path) -> None:
    text = (ROOT / "config.py.default").read_text(encoding="utf-8")
    for placeholder, value in {
        "<tenant>": TENANT,
        "<client_id>": CLIENT,
        "<client_secret>": CLIENT_SECRET,
        "<workspace_id>": WORKSPACE,
        "<misp_api_key>": MISP_KEY,
        "<misp_url>": "https://misp.example.com",
    }.items():
        text = text.replace(f'"{placeholder}"', f'"{value}"')
    settings, issues = inspect_config(write_config(tmp_path, text), env={})
    assert issues == []
    assert settings is not None
    assert settings.ms_auth == (Workspace(TENANT, CLIENT, CLIENT_SECRET, WORKSPACE),)
    assert settings.misp_key == MISP_KEY
    assert settings.days_to_expire_mapping["file:hashes"] == 1
    assert settings.log_file == tmp_path / "misp2sentinel.log"


def test_default_file_as_shipped_names_every_placeholder(tmp_path: Path) -> None:
    path = write_config(tmp_path, (ROOT / "config.py.default").read_text(encoding="utf-8"))
    settings, issues = inspect_config(path, env={})
    assert settings is None
    assert sentences(issues) == [
        f"config.py: ms_auth[{key!r}] is still a placeholder; fill in the real value"
        for key in ("tenant", "client_id", "client_secret", "workspace_id")
    ] + [
        "config.py: misp_key is still a placeholder; fill in the real value",
        "config.py: misp_domain is still a placeholder; fill in the real value",
    ]


def test_default_file_sets_every_known_setting() -> None:
    namespace = runpy.run_path(str(ROOT / "config.py.default"))
    names = {name for name in namespace if not name.startswith("_")}
    assert names == set(settings_module.KNOWN_SETTINGS)


# --- defaults -------------------------------------------------------------------------------------

DEFAULTS: dict[str, Any] = {
    "ms_api_version": "2024-02-01-preview",
    "ms_delete_api_version": "2025-09-01",
    "ms_max_indicators_request": 100,
    "ms_max_requests_minute": 100,
    "misp_verifycert": True,
    "misp_event_filters": {
        "published": 1,
        "tags": ['workflow:state="complete"'],
        "enforceWarninglist": True,
        "publish_timestamp": "14d",
    },
    "misp_event_limit_per_page": 500,
    "days_to_expire": 50,
    "days_to_expire_start": "valid_from",
    "days_to_expire_mapping": {},
    "days_to_expire_ignore_misp_last_seen": True,
    "default_confidence": 50,
    "sourcesystem": "MISP",
    "verbose_log": False,
    "dry_run": False,
    "write_parsed_indicators": False,
    "write_parsed_eventid": False,
    "sentinel_write_response": False,
    "remove_pipe_from_misp_attribute": True,
    "ignore_localtags": True,
    "misp_flatten_attributes": True,
    "misp_remove_eventreports": True,
    "timeframe_toids_change": "1d",
    "ms_useragent": "MISP-1.0",
    "ms_check_if_exist_in_sentinel": False,
    "ms_authority_host": "https://login.microsoftonline.com",
    "ms_upload_base_url": "https://api.ti.sentinel.azure.com",
    "ms_legacy_upload_base_url": "https://sentinelus.azure-api.net",
    "ms_management_base_url": "https://management.azure.com",
    "ms_ca_bundle": None,
    "ms_max_parallel_requests": 4,
    "key_vault_name": None,
    "key_vault_url": None,
    "misp_timeout": 30.0,
    "ms_timeout": 60.0,
    "sentinel_default_threattype": "WatchList",
    "sentinel_default_tlp": "tlp:white",
}


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    path = write_config(tmp_path_factory.mktemp("minimal"), MINIMAL)
    settings, issues = inspect_config(path, env={})
    assert issues == []
    assert settings is not None
    return settings


@pytest.mark.parametrize(("name", "expected"), list(DEFAULTS.items()), ids=list(DEFAULTS))
def test_missing_setting_takes_its_default(minimal: Settings, name: str, expected: Any) -> None:
    value = getattr(minimal, name)
    assert (dict(value) if name in ("misp_event_filters", "days_to_expire_mapping") else value) == expected


def test_default_paths_resolve_beside_the_config(minimal: Settings) -> None:
    assert minimal.log_file == minimal.config_path.parent / "misp2sentinel.log"
    assert minimal.state_file == minimal.config_path.parent / "misp2sentinel.db"
    assert minimal.ms_auth[0].scope == "https://management.azure.com/.default"
    assert minimal.ms_auth[0].new_upload_api is True


def test_settings_are_frozen(minimal: Settings) -> None:
    with pytest.raises(AttributeError):
        minimal.dry_run = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        minimal.misp_event_filters["published"] = 0  # type: ignore[index]


# --- every kind of issue ------------------------------------------------------------------------------

ISSUES = [
    ("unknown-setting", "ms_max_indicator_request = 50", "warning",
     "config.py: ms_max_indicator_request is not a known setting; did you mean ms_max_indicators_request?"),
    ("unknown-no-hint", "zzz_colour = 'blue'", "warning", "config.py: zzz_colour is not a known setting"),
    ("placeholder", "misp_domain = '<misp_url>'", "error",
     "config.py: misp_domain is still a placeholder; fill in the real value"),
    ("empty-secret", "misp_key = ''", "error", "config.py: misp_key is empty"),
    ("wrong-type-int", "ms_max_requests_minute = '100'", "error",
     "config.py: ms_max_requests_minute must be an integer, got str"),
    ("wrong-type-bool", "dry_run = 'yes'", "error", "config.py: dry_run must be True or False, got str"),
    ("bool-is-not-int", "days_to_expire = True", "error",
     "config.py: days_to_expire must be an integer, got bool"),
    ("range-high", "ms_max_indicators_request = 500", "error",
     "config.py: ms_max_indicators_request must be 1..100, got 500"),
    ("range-low", "ms_max_requests_minute = 0", "error",
     "config.py: ms_max_requests_minute must be 1..100, got 0"),
    ("parallel", "ms_max_parallel_requests = 17", "error",
     "config.py: ms_max_parallel_requests must be 1..16, got 17"),
    ("confidence", "default_confidence = 101", "error",
     "config.py: default_confidence must be 0..100, got 101"),
    ("page-size", "misp_event_limit_per_page = 0", "error",
     "config.py: misp_event_limit_per_page must be 1..10000, got 0"),
    ("timeout", "ms_timeout = 0", "error",
     "config.py: ms_timeout must be more than 0 and at most 3600 seconds, got 0"),
    ("expire-start", "days_to_expire_start = 'now'", "error",
     "config.py: days_to_expire_start must be 'valid_from' or 'current_date', got 'now'"),
    ("sourcesystem", "sourcesystem = 'Microsoft Sentinel'", "error",
     "config.py: sourcesystem must not be 'Microsoft Sentinel': "
     "Sentinel keeps that name for its own indicators"),
    ("http-misp", "misp_domain = 'http://misp.example.com'", "error",
     "config.py: misp_domain must be an https:// URL, got http://"),
    ("http-endpoint", "ms_upload_base_url = 'http://127.0.0.1:8443'", "error",
     "config.py: ms_upload_base_url must be an https:// URL, got http://"),
    ("http-vault", "key_vault_url = 'http://vault.local'", "error",
     "config.py: key_vault_url must be an https:// URL, got http://"),
    ("guid", "ms_auth['workspace_id'] = 'my-workspace'", "warning",
     "config.py: ms_auth['workspace_id'] does not look like a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
    ("tenant-shape", "ms_auth['tenant'] = 'contoso'", "warning",
     "config.py: ms_auth['tenant'] does not look like a GUID or a domain name "
     "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
    ("workspace-key", "ms_auth['workspace_name'] = 'soc'", "warning",
     "config.py: ms_auth['workspace_name'] is not a known key; did you mean workspaceName?"),
    ("workspace-missing", "del ms_auth['client_id']", "error", "config.py: ms_auth['client_id'] is missing"),
    ("legacy-api", "ms_auth['new_upload_api'] = False", "warning",
     "config.py: ms_auth['new_upload_api'] is False: the legacy upload API is deprecated by Microsoft"),
    ("duplicate-workspace", "ms_auth = [dict(ms_auth), dict(ms_auth)]", "error",
     f"config.py: ms_auth lists workspace_id {WORKSPACE} more than once"),
    ("duplicate-any-case", f"ms_auth = [dict(ms_auth, workspace_id='{CLIENT}'), "
     f"dict(ms_auth, workspace_id='{CLIENT.upper()}')]", "error",
     f"config.py: ms_auth lists workspace_id {CLIENT.upper()} more than once"),
    ("empty-list", "ms_auth = []", "error", "config.py: ms_auth must be a dict or a non-empty list of dicts"),
    ("timeframe", "timeframe_toids_change = '1 day'", "error",
     "config.py: timeframe_toids_change must be a number followed by s, m, h or d (like '1d'), got '1 day'"),
    ("publish-timestamp", "misp_event_filters = {'publish_timestamp': '2 weeks'}", "error",
     "config.py: misp_event_filters['publish_timestamp'] must be an epoch, a duration like '14d' "
     "or a [from, to] pair, got '2 weeks'"),
    ("filter-key", "misp_event_filters = {'publishd': 1}", "warning",
     "config.py: misp_event_filters['publishd'] is dropped without a word by MISP's events search (it is "
     "not one of its filters); did you mean published?"),
    ("attribute-filter", "misp_event_filters = {'first_seen': '2024-01-01'}", "warning",
     "config.py: misp_event_filters['first_seen'] is dropped without a word by MISP's events search (it "
     "works in attribute searches only)"),
    ("decay-filter", "misp_event_filters = {'excludeDecayed': True}", "warning",
     "config.py: misp_event_filters['excludeDecayed'] is dropped without a word by MISP's events "
     "search (it works in attribute searches only)"),
    ("flag-filter", "misp_event_filters = {'published': object()}", "error",
     "config.py: misp_event_filters['published'] must be text, a number, True/False or a list of those, "
     "got object"),
    ("flag-filter-value", "misp_event_filters = {'to_ids': 2}", "error",
     "config.py: misp_event_filters['to_ids'] must be True, False, 0 or 1, got 2"),
    ("tags-filter", "misp_event_filters = {'tags': [1]}", "error",
     "config.py: misp_event_filters['tags'] must be a tag name, a list of tag names or a dict of OR/AND/NOT "
     "lists of them"),
    ("pymisp-argument", "misp_event_filters = {'controller': 'attributes'}", "error",
     "config.py: misp_event_filters['controller'] is an argument of PyMISP's search(), not a filter; "
     "remove it"),
    ("pager-filter", "misp_event_filters = {'limit': 10}", "warning",
     "config.py: misp_event_filters['limit'] is ignored: misp_event_limit_per_page sets the page size"),
    ("expire-mapping", "days_to_expire_mapping = {'url': 0}", "error",
     "config.py: days_to_expire_mapping['url'] must be 1..36500, got 0"),
    ("verify-off", "misp_verifycert = False", "warning",
     "config.py: misp_verifycert is False: TLS certificates are not checked"),
    ("check-needs-management", "ms_check_if_exist_in_sentinel = True", "error",
     "config.py: ms_check_if_exist_in_sentinel needs subscription_id, resourceGroupName and workspaceName "
     "in every ms_auth workspace"),
    ("missing-required", "del misp_domain", "error", "config.py: misp_domain is missing"),
    ("missing-ms-auth", "del ms_auth", "error", "config.py: ms_auth is missing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("snippet", "severity", "sentence"), [c[1:] for c in ISSUES], ids=[c[0] for c in ISSUES]
)
def test_each_issue_is_one_exact_sentence(tmp_path: Path, snippet: str, severity: str, sentence: str) -> None:
    settings, issues = inspect_config(write_config(tmp_path, MINIMAL + snippet + "\n"), env={})
    assert sentences(issues) == [sentence]
    assert issues[0].severity == severity
    assert (settings is None) == (severity == "error")


@pytest.mark.parametrize("setting", ["misp_verifycert", "ms_ca_bundle"])
def test_ca_path_that_does_not_exist(tmp_path: Path, setting: str) -> None:
    path = write_config(tmp_path, MINIMAL + f"{setting} = 'missing-ca.pem'\n")
    settings, issues = inspect_config(path, env={})
    assert settings is None
    assert sentences(issues) == [
        f"config.py: {setting} points to {tmp_path / 'missing-ca.pem'}, which does not exist"
    ]


@pytest.mark.parametrize("setting", ["log_file", "state_file"])
def test_unwritable_output_directory(tmp_path: Path, setting: str) -> None:
    (tmp_path / "plain-file").write_text("x")  # a file where a directory should be: unwritable even for root
    path = write_config(tmp_path, MINIMAL + f"{setting} = 'plain-file/out'\n")
    settings, issues = inspect_config(path, env={})
    assert settings is None
    assert sentences(issues) == [
        f"config.py: {setting} cannot be written: {tmp_path / 'plain-file'} is not a writable directory"
    ]
    assert inspect_config(path, env={}, check_files=False)[1] == []


@pytest.mark.skipif(os.name != "posix", reason="file modes are a POSIX notion")
def test_config_readable_by_others_while_holding_secrets(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL, mode=0o644)
    settings, issues = inspect_config(path, env={})
    assert settings is not None
    assert sentences(issues) == [
        f"config.py is readable by others (mode 644) and holds secrets; run chmod 600 {path}"
    ]


def test_readable_config_without_secrets_is_fine(tmp_path: Path) -> None:
    body = MINIMAL.replace(MISP_KEY, "").replace(CLIENT_SECRET, "<client_secret>")
    env = {"MISP_KEY": "from-env-key", "MS_CLIENT_SECRET": "from-env-secret"}
    settings, issues = inspect_config(write_config(tmp_path, body, mode=0o644), env=env)
    assert issues == []
    assert settings is not None


def test_all_issues_are_reported_at_once(tmp_path: Path) -> None:
    body = MINIMAL + (
        "ms_max_indicators_request = 500\nsourcesystem = 'Microsoft Sentinel'\n"
        "misp_domain = 'http://misp'\ntimeframe_toids_change = 'x'\n"
        "misp_verifycert = False\nverbos_log = True\n"
    )
    settings, issues = inspect_config(write_config(tmp_path, body), env={})
    assert settings is None
    assert [(i.severity, i.setting) for i in issues] == [
        ("warning", "verbos_log"),
        ("error", "ms_max_indicators_request"),
        ("error", "misp_domain"),
        ("warning", "misp_verifycert"),
        ("error", "sourcesystem"),
        ("error", "timeframe_toids_change"),
    ]


def test_load_settings_raises_one_error_listing_every_problem(tmp_path: Path) -> None:
    body = (
        MINIMAL + "ms_max_indicators_request = 500\ndays_to_expire_start = 'now'\nmisp_verifycert = False\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load_settings(write_config(tmp_path, body), env={})
    assert [str(e) for e in caught.value.errors] == [
        "config.py: ms_max_indicators_request must be 1..100, got 500",
        "config.py: days_to_expire_start must be 'valid_from' or 'current_date', got 'now'",
    ]
    assert all(isinstance(e, ConfigError) for e in caught.value.errors)


def test_load_settings_logs_warnings_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, MINIMAL + "misp_verifycert = False\n")
    with caplog.at_level(logging.WARNING, logger="misp_bridge.config.load"):
        settings = load_settings(path, env={})
    assert settings.misp_verifycert is False
    assert caplog.messages == ["config.py: misp_verifycert is False: TLS certificates are not checked"]
    assert MISP_KEY not in caplog.text and CLIENT_SECRET not in caplog.text


def test_imports_functions_and_classes_are_not_settings(tmp_path: Path) -> None:
    body = (
        "import os\nfrom pathlib import Path\n"
        + MINIMAL
        + ("def secret_from_file():\n    return 'x'\n\nclass Helper:\n    pass\n\n_private = 1\n")
    )
    settings, issues = inspect_config(write_config(tmp_path, body), env={})
    assert issues == []
    assert settings is not None


def test_environment_fills_a_tuple_of_workspaces(tmp_path: Path) -> None:
    body = MINIMAL.replace(CLIENT_SECRET, "") + "ms_auth = (ms_auth,)\n"
    settings, issues = inspect_config(write_config(tmp_path, body), env={"MS_CLIENT_SECRET": "env-secret"})
    assert issues == []
    assert settings is not None
    assert settings.ms_auth[0].client_secret == "env-secret"


def test_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    _, issues = inspect_config(write_config(tmp_path, MINIMAL + "misp_key = 123456789\n"), env={})
    assert sentences(issues) == ["config.py: misp_key must be a string, got int"]


# --- files that cannot be read or run -------------------------------------------------------------------


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.py"
    assert sentences(inspect_config(path, env={})[1]) == [
        f"config.py not found at {path}; copy config.py.default"
    ]
    with pytest.raises(ConfigErrors) as caught:
        load_settings(path, env={})
    (error,) = caught.value.errors
    assert isinstance(error, ConfigFileError)
    assert str(caught.value) == str(error) == f"config.py not found at {path}; copy config.py.default"


def test_config_raising_while_running_gives_one_issue(tmp_path: Path) -> None:
    settings, issues = inspect_config(copy_sample("raises", tmp_path), env={})
    assert settings is None
    assert sentences(issues) == ["config.py line 4 raised NameError: name 'make_workspace' is not defined"]


def test_exception_text_that_could_hold_a_value_is_not_shown(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL + f"port = int('{MISP_KEY}')\n")
    assert sentences(inspect_config(path, env={})[1]) == ["config.py line 10 raised ValueError"]


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, MINIMAL + "dry_run = (\n")
    issues = inspect_config(path, env={})[1]
    assert len(issues) == 1
    assert str(issues[0]).startswith("config.py line 10 has a syntax error (")


# --- the original tool's config and several workspaces -------------------------------------------------


def test_original_style_config_loads_with_warnings_only(tmp_path: Path) -> None:
    settings, issues = inspect_config(copy_sample("original", tmp_path), env={})
    assert sentences(issues) == [
        "config.py: misp_verifycert is False: TLS certificates are not checked",
    ]  # includeEventTags (the original's default filters) narrows nothing: no warning for it
    assert settings is not None
    assert settings.misp_verifycert is False
    assert settings.ms_upload_base_url == "https://api.ti.sentinel.azure.com"
    assert settings.state_file == tmp_path / "original" / "misp2sentinel.db"
    assert settings.ms_auth[0].label == "99999999-8888-7777-6666-555555555555"
    assert not settings.ms_auth[0].has_management


def test_list_of_workspaces(tmp_path: Path) -> None:
    settings, issues = inspect_config(copy_sample("multi", tmp_path), env={})
    assert issues == []
    assert settings is not None
    first, second = settings.ms_auth
    assert first.client_secret == "first-secret-value" and not first.has_management
    assert second == Workspace(
        tenant="contoso.onmicrosoft.com",
        client_id="aaaaaaaa-bbbb-cccc-dddd-ffffffffffff",
        client_secret="second-secret-value",
        workspace_id="99999999-8888-7777-6666-444444444444",
        subscription_id="12121212-3434-5656-7878-909090909090",
        resource_group="rg-soc",
        workspace_name="soc-west",
    )
    assert second.has_management and second.label == "soc-west"
    assert settings.misp_domain == "https://misp.example.com"
    assert settings.misp_verifycert == str(tmp_path / "multi" / "ca.pem")
    assert settings.log_file == tmp_path / "multi" / "logs" / "sync.log"


def test_loading_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = copy_sample("multi", tmp_path)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("multi/config.py"), env={})
    assert settings.state_file == tmp_path / "multi" / "state" / "sync.db"
    assert settings.config_path == path


# --- secrets -------------------------------------------------------------------------------------------


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    body = MINIMAL + (
        f"ms_auth = [ms_auth,"
        f" dict(ms_auth, workspace_id='{WORKSPACE[:-1]}0', client_secret='<client_secret>'),"
        f" dict(ms_auth, workspace_id='{WORKSPACE[:-1]}1', client_secret='')]\n"
    )
    env = {"MISP_KEY": "env-misp-key", "MS_CLIENT_SECRET": "env-client-secret"}
    settings, issues = inspect_config(write_config(tmp_path, body), env=env)
    assert issues == []
    assert settings is not None
    assert settings.misp_key == "env-misp-key"
    # The environment fills only secrets left empty or as placeholders.
    assert [ws.client_secret for ws in settings.ms_auth] == [
        CLIENT_SECRET,
        "env-client-secret",
        "env-client-secret",
    ]


def test_key_vault_name_from_environment_wins_and_defers_secret_checks(tmp_path: Path) -> None:
    body = (
        MINIMAL.replace(MISP_KEY, "<misp_api_key>").replace(CLIENT_SECRET, "")
        + "key_vault_name = 'cfg-vault'\n"
    )
    settings, issues = inspect_config(write_config(tmp_path, body), env={"key_vault_name": "env-vault"})
    assert issues == []
    assert settings is not None
    assert settings.key_vault_name == "env-vault"
    assert settings.vault_url == "https://env-vault.vault.azure.net"
    filled = settings.with_secrets(misp_key="vault-misp-key", client_secret="vault-client-secret")
    assert filled.misp_key == "vault-misp-key"
    assert [ws.client_secret for ws in filled.ms_auth] == ["vault-client-secret"]


def test_with_secrets_replaces_only_what_is_given(minimal: Settings) -> None:
    only_key = minimal.with_secrets(misp_key="other-misp-key")
    assert only_key.misp_key == "other-misp-key"
    assert only_key.ms_auth == minimal.ms_auth
    assert minimal.misp_key == MISP_KEY  # the original is untouched
    only_secret = minimal.with_secrets(client_secret="other-client-secret")
    assert only_secret.misp_key == MISP_KEY
    assert only_secret.ms_auth[0].client_secret == "other-client-secret"


def test_repr_shows_no_secret(minimal: Settings) -> None:
    text = repr(minimal) + repr(minimal.ms_auth[0]) + repr(minimal.with_secrets(misp_key="vault-only-value"))
    assert "misp_domain='https://misp.example.com'" in text
    for secret in (MISP_KEY, CLIENT_SECRET, "vault-only-value"):
        assert secret not in text


# --- constants.py ----------------------------------------------------------------------------------------


def test_builtin_constants_equal_the_project_file() -> None:
    namespace = runpy.run_path(str(ROOT / "constants.py"))
    for name, builtin in BUILTIN_CONSTANTS.items():
        value = namespace[name]
        if isinstance(builtin, (frozenset, tuple)):
            assert sorted(value) == sorted(builtin), name
            assert len(set(value)) == len(value), f"{name} lists an entry twice"
        else:
            assert value == builtin, name


def test_constants_beside_the_config_win_and_missing_names_keep_defaults(tmp_path: Path) -> None:
    settings, issues = inspect_config(copy_sample("own_constants", tmp_path), env={})
    assert issues == []
    assert settings is not None
    assert settings.constants_path == tmp_path / "own_constants" / "constants.py"
    assert "misp-galaxy:" not in settings.misp_tags_ignore
    assert settings.misp_custom_attribute == frozenset({"iban", "phone-number"})
    # Custom types are accepted for upload without being listed twice.
    assert "phone-number" in settings.upload_indicator_misp_accepted_types
    assert settings.misp_confidence['misp:confidence-level="usually-confident"'] == 75


def test_project_constants_found_beside_the_command(tmp_path: Path) -> None:
    lookup = Lookup(cwd=tmp_path, command_dir=ROOT)
    settings, issues = inspect_config(write_config(tmp_path / "cfg", MINIMAL), env={}, lookup=lookup)
    assert issues == []
    assert settings is not None
    assert settings.constants_path == ROOT / "constants.py"
    assert "misp-galaxy:" in settings.misp_tags_ignore
    assert (
        settings.tlp_marking_object_definition["tlp:clear"]
        == settings.tlp_marking_object_definition["tlp:white"]
    )


def test_builtin_constants_when_no_file_exists(tmp_path: Path) -> None:
    settings, issues = inspect_config(write_config(tmp_path / "cfg", MINIMAL), env={})
    assert issues == []
    assert settings is not None
    assert settings.constants_path is None
    assert (
        settings.upload_indicator_misp_accepted_types
        == BUILTIN_CONSTANTS["UPLOAD_INDICATOR_MISP_ACCEPTED_TYPES"]
    )


CONSTANT_ISSUES = [
    ("typo", "MISP_TAG_IGNORE = []", "warning",
     "constants.py: MISP_TAG_IGNORE is not a known constant; did you mean MISP_TAGS_IGNORE?"),
    ("confidence", "MISP_CONFIDENCE = {'x': 120}", "error",
     "constants.py: MISP_CONFIDENCE['x'] must be 0..100, got 120"),
    ("marking", "TLP_MARKING_OBJECT_DEFINITION = {'tlp:white': 'white'}", "error",
     "constants.py: TLP_MARKING_OBJECT_DEFINITION['tlp:white'] "
     "must be a STIX id like marking-definition--<uuid>"),
    ("default-tlp", "SENTINEL_DEFAULT_TLP = 'tlp:blue'", "error",
     "constants.py: SENTINEL_DEFAULT_TLP must be a key of TLP_MARKING_OBJECT_DEFINITION"),
    ("list-type", "MISP_TAGS_IGNORE = 'tlp:'", "error",
     "constants.py: MISP_TAGS_IGNORE must be a list of strings, got str"),
    ("crash", "MISP_CONFIDENCE = undefined_name", "error",
     "constants.py line 1 raised NameError: name 'undefined_name' is not defined"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("snippet", "severity", "sentence"), [c[1:] for c in CONSTANT_ISSUES], ids=[c[0] for c in CONSTANT_ISSUES]
)
def test_constants_issues(tmp_path: Path, snippet: str, severity: str, sentence: str) -> None:
    path = write_config(tmp_path, MINIMAL)
    (tmp_path / "constants.py").write_text(snippet + "\n", encoding="utf-8")
    settings, issues = inspect_config(path, env={})
    assert sentences(issues) == [sentence]
    assert (settings is None) == (severity == "error")
