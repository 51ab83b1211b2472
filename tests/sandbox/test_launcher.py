"""`python -m sandbox`: the launcher serves until told to stop, writes a config.py the sync accepts, and
`--demo` finishes with exit 0 whichever tools exist yet. Real clients (PyMISP, msal, azure-keyvault-secrets)
check that what the written files point at really answers."""

from __future__ import annotations

import io
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msal
import pymisp
import pytest
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from misp_bridge.checkconfig.cli import main as check_config_main
from misp_bridge.config import inspect_config, load_settings
from misp_bridge.pandora.cli import main as plugin_main
from misp_bridge.sync.cli import main as sync_main
from sandbox import __main__ as launcher_cli
from sandbox.launcher import SAMPLE_EVENTS, seed, start_all, write_config
from sandbox.misp.app import MispApp

REPO = Path(__file__).resolve().parents[2]


class Launched:
    """A `python -m sandbox` subprocess whose stdout lines are collected by a reader thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting with {prefix!r}; output so far:\n" + "\n".join(self.seen))

    def drain(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "\n".join(self.seen)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Launched, Path]]:
    run = Launched("--seed", "--dir", str(tmp_path / "run"))
    try:
        ready = run.wait_for("ready:")
        config = Path(ready.removeprefix("ready:").split(" (")[0].strip())
        yield run, config
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(10)


def _env(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = (line.removeprefix("export ").split("=", 1) for line in lines if line.strip())
    return {name: value for name, value in pairs}


def test_served_config_loads_and_every_endpoint_answers_real_clients(
    served: tuple[Launched, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    run, config = served
    settings = load_settings(config, env={})
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert settings.state_file.parent == config.parent
    assert settings.log_file is not None and settings.log_file.parent == config.parent
    ca = str(settings.ms_ca_bundle)
    assert settings.misp_verifycert == ca
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)  # msal and the Azure SDK read these over verify=
    monkeypatch.setenv("SSL_CERT_FILE", ca)

    misp = pymisp.PyMISP(settings.misp_domain, settings.misp_key, ssl=ca, timeout=10)
    events = misp.search(controller="events", return_format="json", pythonify=False)
    assert isinstance(events, list)
    expected = {f.name for f in SAMPLE_EVENTS.glob("*.json")} if SAMPLE_EVENTS.is_dir() else set()
    assert len(events) == (len(expected) or 7)

    workspace = settings.ms_auth[0]
    app = msal.ConfidentialClientApplication(
        workspace.client_id,
        client_credential=workspace.client_secret,
        authority=f"{settings.ms_authority_host}/{workspace.tenant}",
        instance_discovery=False,
    )
    token = app.acquire_token_for_client(scopes=[workspace.scope])
    assert "access_token" in token, token.get("error_description")

    identity = _env(config.parent / "keyvault.env")
    vault_url = next(line.split()[2] for line in run.seen if line.strip().startswith("Key Vault"))
    credential = ClientSecretCredential(
        identity["AZURE_TENANT_ID"],
        identity["AZURE_CLIENT_ID"],
        identity["AZURE_CLIENT_SECRET"],
        authority=identity["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )
    with SecretClient(vault_url, credential, verify_challenge_resource=False) as vault:
        assert vault.get_secret("MISP-Key").value == settings.misp_key
        assert vault.get_secret("ClientSecret").value == workspace.client_secret

    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(10) == 0
    run.wait_for("sandbox stopped", timeout=5)
    assert settings.misp_key not in run.drain()


def test_demo_runs_every_step_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--demo", "--dir", str(tmp_path / "demo")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    titles = ["check-config", "sync (first run)", "pandora plugin: the sshd alert again (a sighting)"]
    for title in titles:
        assert f"=== {title} ===" in done.stdout
        outcome = done.stdout.split(f"=== {title} ===", 1)[1]
        assert f"--> {title}: exit 0" in outcome
    assert "=== what the sandboxes hold ===" in done.stdout
    assert "misp_events" in done.stdout and "sentinel_objects" in done.stdout
    # Nothing points at the demo's sandboxes once they have stopped; the end says how to start lasting ones.
    assert "Try" not in done.stdout
    assert done.stdout.rstrip().endswith(f"{launcher_cli.python()} -m sandbox --seed --dir sandbox-run")


def test_a_second_demo_starts_from_an_empty_state(tmp_path: Path) -> None:
    """The sandboxes' data lives in memory: an earlier demo's state file must not make the sync upload
    nothing into an empty Sentinel."""
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "misp2sentinel.db").write_text("stale", encoding="utf-8")
    (directory / "spool").mkdir()
    with start_all(directory) as sandboxes:
        launcher_cli.clear_leftovers(sandboxes.directory)
    assert not (directory / "misp2sentinel.db").exists() and not (directory / "spool").exists()


def test_a_directory_a_running_sandbox_holds_is_refused_and_left_alone(
    served: tuple[Launched, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`make demo` while a sandbox is up overwrote its CA, config.py and keyvault.env before."""
    run, config = served
    directory = config.parent
    before = {
        name: (directory / name).read_bytes() for name in ("config.py", "sandbox-ca.pem", "keyvault.env")
    }
    code = launcher_cli.main(["--demo", "--dir", str(directory)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"python -m sandbox: error: a sandbox (pid {run.process.pid}) is running with {directory}; "
        "stop it, or give this one another --dir\n"
    )
    assert {name: (directory / name).read_bytes() for name in before} == before


def test_a_served_sandbox_prints_lines_that_work(served: tuple[Launched, Path]) -> None:
    run, config = served
    text = run.drain()
    assert f"  {launcher_cli.python()} script.py --config {config}" in text
    assert f"--key-file {config.parent / 'misp.key'}" in text
    assert (config.parent / "misp.key").read_text(encoding="utf-8").strip() == load_settings(config).misp_key


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--port-base", "80"], id="privileged-port-base"),
        pytest.param(["--port-base", "65534"], id="port-base-past-the-last-port"),
        pytest.param(["--rate-window", "0"], id="zero-rate-window"),
        pytest.param(["--bogus"], id="unknown-flag"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        launcher_cli.parse_args(argv)
    assert stopped.value.code == 2


def test_written_config_is_complete_and_quiet(tmp_path: Path) -> None:
    with start_all(tmp_path / "run") as sandboxes:
        config = write_config(sandboxes)
        settings, issues = inspect_config(config, env={})
    assert issues == []  # no warning either: not world-readable, TLS checked, no unknown setting
    assert settings is not None
    assert settings.ms_upload_base_url == sandboxes.sentinel_url
    assert settings.ms_management_base_url == sandboxes.sentinel_url
    assert settings.ms_authority_host == sandboxes.entra_url
    assert settings.ms_auth[0].has_management
    assert settings.days_to_expire_start == "valid_from" and settings.days_to_expire == 5000


def test_fixed_ports_follow_port_base(tmp_path: Path) -> None:
    base = 20000 + os.getpid() % 20000  # spread parallel runs over the range
    with start_all(tmp_path / "run", port_base=base) as sandboxes:
        urls = [sandboxes.misp_url, sandboxes.entra_url, sandboxes.sentinel_url, sandboxes.vault_url]
    assert urls == [f"https://127.0.0.1:{base + offset}" for offset in range(4)]


def test_seed_falls_back_to_synthetic_events(tmp_path: Path) -> None:
    misp = MispApp()
    count, source = seed(misp, tmp_path / "no-such-dir")
    assert count == len(misp.events()) > 0
    assert "synthetic" in source


def _raising(argv: list[str]) -> int:
    raise RuntimeError("half written")


def _exiting(argv: list[str]) -> int:
    raise SystemExit(3)


@pytest.mark.parametrize(
    ("main", "expected"),
    [
        pytest.param(_raising, "step: failed: RuntimeError: half written", id="main-raising"),
        pytest.param(_exiting, "--> step: exit 3", id="main-exiting"),
        pytest.param(lambda argv: int(argv[0]), "--> step: exit 7", id="exit-code-shown"),
    ],
)
def test_a_broken_tool_does_not_end_the_demo(main: Callable[[list[str]], int], expected: str) -> None:
    out = io.StringIO()
    launcher_cli.run_step(launcher_cli.Step("step", main, ("7",)), out)
    assert expected in out.getvalue()


def test_the_demo_steps_are_the_real_tools(tmp_path: Path) -> None:
    with start_all(tmp_path / "run") as sandboxes:
        steps = launcher_cli.demo_steps(sandboxes, tmp_path / "config.py")
    assert {step.main for step in steps} == {check_config_main, sync_main, plugin_main}


def test_a_taken_port_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        if port > 65530:
            pytest.skip("the free port found leaves no room for four")
        before = signal.getsignal(signal.SIGTERM)
        code = launcher_cli.main(["--dir", str(tmp_path / "run"), "--port-base", str(port)])
    assert code == 2
    assert capsys.readouterr().err == "python -m sandbox: error: cannot start: Address already in use\n"
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers are given back
