"""A misbehaving LLM endpoint (HTML or plain text where JSON belongs, HTTP 500 every time) costs rejected
proposals with their reason stored, then the stop rule ends the search with a non-zero status; never a
traceback. The search runs through the real command over the contract doubles."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from tinyhil.search.store import RunStore

from ..search import contract_doubles
from .cli_run import one_error_line, tinyhil


@contextlib.contextmanager
def endpoint(status: int, content_type: str, body: bytes) -> Iterator[str]:
    """An HTTP server answering every request with the same status, content type and body."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.mark.parametrize("status, content_type, body, reason", [
    (200, "application/json", HTML, "answered a body that is not JSON"),
    (200, "text/plain", b"Sorry, I cannot help with that.", "not a chat completion"),
    (500, "application/json", b'{"error": {"message": "model crashed"}}', "model crashed"),
], ids=["html-as-json", "plain-text", "http-500"])
def test_a_broken_llm_endpoint_gives_rejected_proposals_and_a_nonzero_exit(
        status: int, content_type: str, body: bytes, reason: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    contract_doubles.install(monkeypatch)
    with endpoint(status, content_type, body) as base_url:
        monkeypatch.setenv("TINYHIL_LLM_BASE_URL", base_url)
        monkeypatch.setenv("TINYHIL_LLM_MODEL", "scripted")
        ran = tinyhil(["search", "--no-live", "--proposer", "llm", "--iterations", "2", "--dataset", "digits",
                       "--runs-dir", str(tmp_path), "--run-id", "r"], capsys)
    assert_rejected_and_stopped(ran, tmp_path / "r", reason)


def test_an_llm_endpoint_that_is_down_gives_rejected_proposals_and_a_nonzero_exit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tinyhil.ports import free_port

    contract_doubles.install(monkeypatch)
    monkeypatch.setenv("TINYHIL_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    monkeypatch.setenv("TINYHIL_LLM_MODEL", "scripted")
    ran = tinyhil(["search", "--no-live", "--proposer", "llm", "--iterations", "2", "--dataset", "digits",
                   "--runs-dir", str(tmp_path), "--run-id", "r"], capsys)
    assert_rejected_and_stopped(ran, tmp_path / "r", "Connection error")


def assert_rejected_and_stopped(ran, run_dir: Path, reason: str) -> None:  # type: ignore[no-untyped-def]
    line = one_error_line(ran)
    assert ran.status == 3, ran.err
    assert "evaluated nothing" in line and "5 consecutive proposal steps" in line
    assert "tinyhil search --resume" in line  # what to do
    with RunStore.open(run_dir) as store:
        rejected = store.candidates("rejected")
        assert len(rejected) == 5 and len(store.candidates()) == 5  # one row per failed step, none doubled
        assert all(reason in c.reason and "llm endpoint" in c.reason for c in rejected)
        assert store.info()["stopped_reason"]
