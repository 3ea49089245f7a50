"""An OpenAI-compatible chat endpoint on 127.0.0.1 that answers from a script (a test double for an LLM)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
import contextlib


class ScriptedLLM:
    def __init__(self, replies: list[str], fallback: str | None = None, reject_response_format: bool = False,
                 context_chars: int | None = None):
        self.replies = list(replies)
        self.fallback = fallback
        self.reject_response_format = reject_response_format
        self.context_chars = context_chars  # a request whose messages are longer gets llama.cpp's 400
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def next_reply(self) -> str:
        if self.replies:
            return self.replies.pop(0)
        if self.fallback is None:
            raise AssertionError("the script ran out of replies")
        return self.fallback


@contextlib.contextmanager
def serve(script: ScriptedLLM) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT/v1) while the server runs."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append(body)
            script.headers.append({k.lower(): v for k, v in self.headers.items()})
            if not self.path.endswith("/chat/completions"):
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            if script.reject_response_format and "response_format" in body:
                return self._send(400, {"error": {"message": "response_format is not supported"}})
            length = sum(len(m["content"]) for m in body["messages"])
            if script.context_chars is not None and length > script.context_chars:
                return self._send(400, {"error": {"message": f"Requested tokens ({length}) exceed context window of "
                                                             f"{script.context_chars}"}})
            content = script.next_reply()
            return self._send(200, {"id": "scripted", "object": "chat.completion", "created": 0, "model": body["model"],
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": content}}],
                                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
