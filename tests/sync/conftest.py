"""Fixtures for the sync server: certificates, stores (SQLite and PostgreSQL),
a running server in a thread and a client speaking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from support.sync_server import (
    Client,
    PostgresCluster,
    PostgresUnavailable,
    Practice,
    RunningServer,
    TLSFiles,
    make_tls,
    new_practice,
    serve_in_thread,
)

from desktop_crm.sync.server import PostgresStore, ServerConfig, SQLiteStore, Store


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster()
    except PostgresUnavailable as exc:
        pytest.skip(f"no private PostgreSQL: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Store]]:
    """Opens the store of this test (again): same file or same database."""
    stores: list[Store] = []
    if backend == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        url = cluster.new_database()

        def opener() -> Store:
            stores.append(PostgresStore(url))
            return stores[-1]
    else:

        def opener() -> Store:
            stores.append(SQLiteStore(tmp_path / "server" / "sync-server.sqlite3"))
            return stores[-1]

    yield opener
    for store in stores:
        store.close()


@pytest.fixture
def start_server(
    open_store: Callable[[], Store], tls: TLSFiles
) -> Iterator[Callable[..., RunningServer]]:
    """start(config=None, store=None) -> a server running until the test ends."""
    with ExitStack() as stack:

        def start(
            config: ServerConfig | None = None, store: Store | None = None
        ) -> RunningServer:
            return stack.enter_context(
                serve_in_thread(store or open_store(), tls, config)
            )

        yield start


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server()


@pytest.fixture
def connector(
    tls: TLSFiles,
) -> Iterator[Callable[[RunningServer], Callable[[str | None], Client]]]:
    """connector(running)(token) -> a client of that server, closed at the end."""
    clients: list[Client] = []

    def for_server(running: RunningServer) -> Callable[[str | None], Client]:
        def make(token: str | None = None) -> Client:
            clients.append(Client(running.port, tls.client_context(), token))
            return clients[-1]

        return make

    yield for_server
    for client in clients:
        client.close()


@pytest.fixture
def connect(
    server: RunningServer,
    connector: Callable[[RunningServer], Callable[[str | None], Client]],
) -> Callable[[str | None], Client]:
    return connector(server)


@pytest.fixture
def practice(connect: Callable[[str | None], Client]) -> Practice:
    return new_practice(connect)
