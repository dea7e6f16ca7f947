"""MLflow's scoring protocol from a lean HTTP server (stdlib ThreadingHTTPServer, orjson).

`POST /invocations` takes `{"dataframe_records": [...]}` or `{"dataframe_split": {"columns": [...],
"data": [[...]]}}` and answers `{"predictions": [...]}`, one object per row; `GET /ping` and
`/health` answer 200 once the model is loaded; `GET /version` names the run, its versions and the
model version. Errors use MLflow's body `{"error_code", "message"}`: 400 for a bad request (the message
names the field), 413 for an oversized batch or body (naming the limit), 415 for a body that is not
JSON, 404/405 otherwise; an unexpected error in scoring is a 500 and the server keeps serving.

Why not MLflow's own server: bench/results/serve-load.md measures both; MLflow's FastAPI app parses
through pandas and enforces the schema on every request, which costs more than the models do.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import orjson

from tasks.serve.encode import RequestError, records_to_columns
from tasks.serve.model import ServedModels

__all__ = ["ScoringServer", "parse_invocation", "MAX_BODY_BYTES"]

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 1024 * 1024


def parse_invocation(body: bytes, features: list[str], max_rows: int) -> tuple[dict[str, list], int]:
    """The request's columns (the served features only) and its row count; RequestError naming what is wrong."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(f"request body must be a JSON object with 'dataframe_records' or 'dataframe_split'; got "
                           f"a JSON {type(payload).__name__}")
    keys = [k for k in ("dataframe_records", "dataframe_split") if k in payload]
    if len(keys) != 1:
        raise RequestError("request body must hold exactly one of 'dataframe_records' or 'dataframe_split'; got "
                           f"keys {sorted(payload)}")
    if keys[0] == "dataframe_records":
        records = payload["dataframe_records"]
        if not isinstance(records, list):
            raise RequestError(f"'dataframe_records' must be a list of row objects; got {type(records).__name__}")
        if len(records) > max_rows:
            raise RequestError(f"batch of {len(records)} rows exceeds the limit of {max_rows} rows per request", 413)
        for row, record in enumerate(records):
            if not isinstance(record, dict):
                raise RequestError(f"'dataframe_records' row {row} must be an object of feature: value; got "
                                   f"{type(record).__name__}")
        return records_to_columns(records, features), len(records)
    split = payload["dataframe_split"]
    if not (isinstance(split, dict) and isinstance(split.get("columns"), list) and isinstance(split.get("data"), list)):
        raise RequestError("'dataframe_split' must be an object with 'columns' (a list of names) and 'data' "
                           "(a list of rows)")
    columns, data = split["columns"], split["data"]
    if len(data) > max_rows:
        raise RequestError(f"batch of {len(data)} rows exceeds the limit of {max_rows} rows per request", 413)
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise RequestError(f"'dataframe_split' data row {row} must be a list of {len(columns)} values, one per "
                               "column")
    position = {name: i for i, name in enumerate(columns) if isinstance(name, str)}
    return {name: [values[position[name]] for values in data] for name in features if name in position}, len(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # one write per response, sent at once
    server_version = "whyflow-serve"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode("ascii")
        self.wfile.write(head + body)

    def _error(self, status: int, message: str) -> None:
        code = {400: "BAD_REQUEST", 404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST", 413: "BAD_REQUEST",
                415: "BAD_REQUEST"}.get(status, "INTERNAL_ERROR")
        self._send(status, orjson.dumps({"error_code": code, "message": message}))

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        path = self.path.split("?", 1)[0]
        if path in ("/ping", "/health"):
            self._send(200, b"\n", "text/plain")
        elif path == "/version":
            self._send(200, self.server.version_body)
        elif path == "/invocations":
            self._error(405, "use POST for /invocations")
        else:
            self._error(404, f"no endpoint {path}; use POST /invocations, GET /ping, /health or /version")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        if path != "/invocations":
            self.rfile.read(length)
            self._error(404, f"no endpoint {path}; use POST /invocations")
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read
            self._error(413, f"request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes")
            return
        body = self.rfile.read(length)
        kind = (self.headers.get("Content-Type") or "application/json").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            self._error(415, f"Content-Type must be application/json; got {kind!r}")
            return
        models = self.server.models
        try:
            columns, rows = parse_invocation(body, models.features, models.max_rows)
            predictions = models.predict_records(columns, rows)
        except RequestError as exc:
            self._error(exc.status, str(exc))
            return
        except Exception as exc:  # a bug or a library failure on odd input: answered, never fatal
            log.exception("scoring failed")
            self._error(500, f"scoring failed: {type(exc).__name__}: {exc}")
            return
        self._send(200, orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 clients connecting at once must not overflow the listen backlog
    models: ServedModels
    version_body: bytes


class ScoringServer:
    """A bound server for one run's models; `serve_forever()` until `shutdown()` (another thread)."""

    def __init__(self, models: ServedModels, host: str, port: int, version: dict[str, Any]):
        self._server = _Server((host, port), _Handler)
        self._server.models = models
        self._server.version_body = orjson.dumps(version)

    def swap(self, models: ServedModels, version: dict[str, Any]) -> None:
        """Serve other models from the next request on (a request in flight finishes with the old ones)."""
        self._server.models, self._server.version_body = models, orjson.dumps(version)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    def serve_forever(self, ready: Callable[[], None] | None = None) -> None:
        if ready is not None:
            ready()
        self._server.serve_forever(poll_interval=0.5)

    def shutdown(self) -> None:
        threading.Thread(target=self._server.shutdown, daemon=True).start()

    def close(self) -> None:
        self._server.server_close()
