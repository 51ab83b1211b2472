"""The shared sandbox server: routing, TLS with the sandbox CA, and the fault knobs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from sandbox.http import App, Request, Response, Server, Trip, TripPoint, json_response
from sandbox.tls import SandboxCA


class Echo(App):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.add_route("GET", r"/items/(?P<item>[a-z]+)", self.item)
        self.handled: list[str] = []

    def item(self, request: Request) -> Response:
        self.handled.append(request.params["item"])
        return json_response(200, {"item": request.params["item"], "q": request.arg("q")})


@pytest.fixture
def echo(sandbox_ca: SandboxCA) -> Iterator[Server]:
    with Server(Echo(), sandbox_ca) as server:
        yield server


def test_routes_and_tls(echo: Server, sandbox_ca: SandboxCA) -> None:
    reply = requests.get(f"{echo.url}/items/abc?q=1", verify=str(sandbox_ca.ca_path), timeout=5)
    assert reply.json() == {"item": "abc", "q": "1"}
    assert requests.get(f"{echo.url}/nope", verify=str(sandbox_ca.ca_path), timeout=5).status_code == 404


def test_untrusted_without_ca(echo: Server) -> None:
    session = requests.Session()
    session.trust_env = False  # ignore REQUESTS_CA_BUNDLE, which the fixture points at the sandbox CA
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"{echo.url}/items/abc", verify=True, timeout=5)


def test_faults(echo: Server, sandbox_ca: SandboxCA) -> None:
    verify = str(sandbox_ca.ca_path)
    echo.app.faults.statuses.extend([503])
    echo.app.faults.drops = 1
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{echo.url}/items/abc", verify=verify, timeout=5)
    assert requests.get(f"{echo.url}/items/abc", verify=verify, timeout=5).status_code == 503
    echo.app.faults.html = 1
    assert requests.get(f"{echo.url}/items/abc", verify=verify, timeout=5).text.startswith("<html>")
    assert requests.get(f"{echo.url}/items/abc", verify=verify, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("at", "handled", "answered"),
    [("arrival", [], False), ("processed", ["b"], False), ("answered", ["b"], True)],
)
def test_a_trip_fires_at_its_request_and_point(
    echo: Server, sandbox_ca: SandboxCA, at: TripPoint, handled: list[str], answered: bool
) -> None:
    """The trip the kill tests use: counted on matching paths only, fired once, at the point asked."""
    verify = str(sandbox_ca.ca_path)
    app = echo.app
    assert isinstance(app, Echo)
    fired: list[list[str]] = []
    app.faults.trip = Trip(lambda: fired.append(list(app.handled)), nth=2, only=r"/items/[b-z]", at=at)
    assert requests.get(f"{echo.url}/items/a", verify=verify, timeout=5).status_code == 200  # not counted
    assert requests.get(f"{echo.url}/items/c", verify=verify, timeout=5).status_code == 200  # the first
    if answered:
        assert requests.get(f"{echo.url}/items/b", verify=verify, timeout=5).json()["item"] == "b"
    else:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{echo.url}/items/b", verify=verify, timeout=5)
    deadline = time.monotonic() + 5  # "answered" fires in the server's thread once the reply is out
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.handled == ["a", "c", *handled]
    assert fired == [["a", "c", *handled]]
    assert requests.get(f"{echo.url}/items/d", verify=verify, timeout=5).status_code == 200  # fired once
    assert len(fired) == 1
