"""What makes an App an ASGI application (:class:`topicflow.asgi.AsgiFastStream`).

The ASGI lifespan starts and stops the app (hooks, brokers); HTTP requests go
to the route whose path matches exactly, or to a mounted ASGI app whose path is
a prefix of the request's (``/metrics`` serves ``/metrics`` and
``/metrics/...``). ``topicflow run module:app`` serves it with uvicorn, and so
do ``uvicorn module:app`` and gunicorn's uvicorn worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from typing import TYPE_CHECKING, Any

from topicflow._asgi._http import AsgiResponse, HttpHandler
from topicflow._asgi._routes import AsyncAPIRoute, asyncapi_routes
from topicflow.exceptions import SetupError

if TYPE_CHECKING:
    import logging
    from collections.abc import Iterator, Sequence

    from topicflow._asgi._http import ASGIApp, Receive, Scope, Send
    from topicflow.kafka.broker.broker import KafkaBroker

__all__ = ["AsgiServing", "uvicorn_options"]

#: ``topicflow run`` options that go to uvicorn (the rest go to the app's hooks).
_UVICORN_OPTIONS = (
    "host",
    "port",
    "uds",
    "fd",
    "root_path",
    "proxy_headers",
    "forwarded_allow_ips",
)


class AsgiServing:
    """What makes an App an ASGI application: its routes, the ASGI lifespan, and
    :meth:`serve` over uvicorn. :class:`topicflow.asgi.AsgiFastStream` is an App with it."""

    # Provided by App.
    brokers: list[KafkaBroker]
    logger: logging.Logger | None
    context: Any

    async def start(self, **options: Any) -> None:
        raise NotImplementedError  # App's

    async def stop(self) -> None:
        raise NotImplementedError  # App's

    def _init_routes(
        self,
        asgi_routes: Sequence[tuple[str, ASGIApp]],
        asyncapi_path: str | AsyncAPIRoute | None,
    ) -> None:
        self.routes: list[tuple[str, Any]] = []
        for path, route in asgi_routes:
            self.mount(path, route)
        if asyncapi_path:
            where = AsyncAPIRoute.ensure_route(asyncapi_path)
            for path, handler in asyncapi_routes(self, where):  # type: ignore[arg-type]
                self.mount(path, handler)
        self._server: Any = None
        self._run_options: dict[str, Any] = {}
        #: Why the last ASGI lifespan startup failed (raised out of serve()).
        self._startup_error: BaseException | None = None

    def mount(self, path: str, route: ASGIApp) -> None:
        """Serve ``route`` at ``path``."""
        if not path.startswith("/"):
            raise ValueError(f"a route path starts with '/': {path!r}")
        if isinstance(route, HttpHandler):
            route.logger = self.logger
            route.context = self.context
        self.routes.append((path, route))

    # -- ASGI ------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan_events(receive, send)
            return
        if kind == "http":
            route, inner = self._route(scope)
            if route is not None:
                await route(inner, receive, send)
                return
            await AsgiResponse(b"Not Found", 404)(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    def _route(self, scope: Scope) -> tuple[Any, Scope]:
        path = scope["path"]
        for route_path, route in self.routes:
            if path == route_path:
                return route, scope
        for route_path, route in self.routes:
            prefix = route_path.rstrip("/")
            if not isinstance(route, HttpHandler) and path.startswith(prefix + "/"):
                inner = dict(scope)
                inner["root_path"] = scope.get("root_path", "") + prefix
                inner["path"] = path[len(prefix) :]
                return route, inner
        return None, scope

    async def _lifespan_events(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            await self.start(**self._run_options)
        except BaseException as exc:
            self._startup_error = exc
            await self._abandon_start()
            await send(
                {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            if not isinstance(exc, Exception):
                raise
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        try:
            await self.stop()
        except Exception as exc:
            await send(
                {"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _abandon_start(self) -> None:
        raise NotImplementedError  # App's

    # -- serving -----------------------------------------------------------------

    def _stop_serving(self) -> None:
        """Ask the server (``topicflow run``, :meth:`run`) to stop gracefully."""
        if self._server is not None:
            self._server.should_exit = True

    async def serve(self, **options: Any) -> None:
        """Serve HTTP with uvicorn until SIGINT/SIGTERM or :meth:`exit`; the lifespan
        starts and stops the app. ``host`` (default 127.0.0.1), ``port`` (8000) and
        uvicorn's other connection options are taken from ``options``; the rest go
        to the app's hooks, as ``topicflow run``'s extra options do.
        """
        try:
            import uvicorn
        except ImportError:  # pragma: no cover - the extra is installed in tests
            raise ImportError(
                "serving an AsgiFastStream needs uvicorn: pip install 'topicflow[asgi]'"
            ) from None
        served, hooks = uvicorn_options(options)
        self._run_options = hooks
        host = str(served.pop("host", "127.0.0.1"))
        port = int(served.pop("port", 8000))
        config = uvicorn.Config(
            self, host=host, port=port, lifespan="on", log_config=None, **served
        )
        server = _quiet_exit_server(uvicorn)(config)
        self._server = server
        sockets = None
        if "uds" not in served and "fd" not in served:
            try:
                # Only the processes of one `--workers N` share a port.
                shared = hooks.get("worker_id") is not None
                sockets = [_listening_socket(host, port, shared=shared)]
            except OSError as exc:
                raise SetupError(
                    f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}; pass another "
                    "--port (or --host)"
                ) from None
        self._startup_error = None
        watcher = asyncio.ensure_future(self._stop_on_failure(server))
        try:
            await server.serve(sockets=sockets)
        except SystemExit:
            # uvicorn exits (code 3) when the lifespan's startup failed: raise why instead,
            # as a plain App's start does (topicflow run prints it and exits 1).
            if self._startup_error is not None:
                raise self._startup_error from None
            raise
        finally:
            watcher.cancel()
            self._server = None
        failure = next((b.failure for b in self.brokers if b.failure is not None), None)
        if failure is not None:
            raise failure

    async def _stop_on_failure(self, server: Any) -> None:
        waits = [asyncio.ensure_future(broker.wait_failed()) for broker in self.brokers]
        if not waits:
            return
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if self.logger is not None:
                self.logger.info(
                    "%s stopping: a subscriber failed", getattr(self, "title", "the app")
                )
            server.should_exit = True
        finally:
            for wait in waits:
                wait.cancel()


def uvicorn_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``topicflow run``'s extra options: uvicorn's (host, port, ...) and the hooks'."""
    served = {
        k.replace("-", "_"): v
        for k, v in options.items()
        if k.replace("-", "_") in _UVICORN_OPTIONS
    }
    hooks = {k: v for k, v in options.items() if k.replace("-", "_") not in _UVICORN_OPTIONS}
    return served, hooks


def _listening_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """A listening socket; ``shared``: with SO_REUSEPORT, so that the processes of
    ``--workers N`` share the port (the kernel spreads connections over them). A
    process on its own binds the port alone: a port another process listens on, a
    topicflow service's workers included, is refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _quiet_exit_server(uvicorn: Any) -> Any:
    """uvicorn's Server, but one that does not raise the signal it stopped on again
    once it has shut down: after a graceful stop ``topicflow run`` exits 0, as it
    does for a plain App (uvicorn would end the process by the signal, code -15)."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server
