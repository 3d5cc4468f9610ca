"""Bus test helpers: a fresh queue on the real RabbitMQ per test, a consumer in this process or in a child."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
from django.conf import settings

from commerce_coordinator.apps.bus import publisher
from commerce_coordinator.apps.bus.consumer import CommandConsumer
from commerce_coordinator.apps.bus.topology import connection, topology
from commerce_coordinator.apps.core.testing import child_process_environment, require_service


def require_rabbitmq() -> None:
    def probe():
        with connection("cc-test-probe") as conn:
            conn.ensure_connection(max_retries=1, timeout=3)

    require_service("RabbitMQ", probe)


@pytest.fixture
def bus_queue():
    """A queue (and its retry and dead-letter queues) of this test only, deleted afterwards."""
    require_rabbitmq()
    name = f"cc-test-bus-{uuid.uuid4().hex[:12]}"
    yield name
    bus = topology(name)
    with connection("cc-test-cleanup") as conn:
        channel = conn.channel()
        for queue in (bus.queue, bus.retry_queue, bus.dead_letter_queue):
            queue.bind(channel).delete()


def publish(queue: str, command: str, message_id: str | None = None, **arguments) -> str:
    return publisher.publish_command(command, arguments, message_id=message_id, queue=queue)


class GatheringConsumer(CommandConsumer):
    """A consumer whose first batch waits until it holds `first_batch` messages (a test's determinism: the real
    one takes only what has already arrived), then behaves as any."""

    first_batch = 0

    def gather(self) -> None:
        deadline = time.monotonic() + 30
        while len(self.delivered) < self.first_batch and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.consuming_on.drain_events(timeout=1)
        self.first_batch = 0
        super().gather()


def consume(queue: str, max_messages=None, idle_timeout=2.0, first_batch=0) -> CommandConsumer:
    """Run a consumer in this process (inside the test's database transaction) until it stops; with
    `first_batch`, its first batch is that many messages."""
    with connection("cc-test-consumer", confirm_publish=True) as conn:
        consumer = GatheringConsumer(conn, topology(queue), max_messages, idle_timeout)
        consumer.first_batch = first_batch
        consumer.run()
    return consumer


def drain(queue_name: str) -> list:
    """Take every message of a queue: [(decoded body or raw bytes, headers)]."""
    found = []
    with connection("cc-test-drain") as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue_name, no_ack=True)) is not None:
            try:
                body = json.loads(message.body)
            except ValueError:
                body = message.body
            found.append((body, message.headers or {}))
    return found


def declare(queue: str) -> None:
    with connection("cc-test-declare") as conn:
        topology(queue).declare(conn.channel())


def depth(queue_name: str) -> int:
    """Messages ready in a queue (not those delivered and not yet acknowledged: see unsettled)."""
    with connection("cc-test-depth") as conn:
        return conn.channel().queue_declare(queue_name, passive=True).message_count


def consumer_count(queue_name: str) -> int:
    with connection("cc-test-consumers") as conn:
        return conn.channel().queue_declare(queue_name, passive=True).consumer_count


def unsettled(queue_name: str) -> int:
    """Messages of a queue not acknowledged yet, ready or delivered (RabbitMQ's own count)."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_queues", "name", "messages", "-s"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    counts = dict(line.split("\t", 1) for line in listing.splitlines() if "\t" in line)
    return int(counts[queue_name])


class ConsumerProcess:
    """`manage.py consume_billing_commands` as a child process on this test run's databases."""

    def __init__(self, queue: str, *args: str, **env: str):
        self.connection_name = f"cc-test-{uuid.uuid4().hex[:8]}"
        cmd = [
            sys.executable,
            "manage.py",
            "consume_billing_commands",
            "--queue",
            queue,
            "--connection-name",
            self.connection_name,
            *args,
        ]
        self.output: list[str] = []
        self.process = subprocess.Popen(
            cmd,
            env=child_process_environment(**env),
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=lambda: self.output.extend(self.process.stdout), daemon=True).start()

    def log(self) -> str:
        return "".join(self.output)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"consumer did not exit in {timeout}s:\n{self.log()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def rabbitmq_connections(connection_name: str) -> list[str]:
    """RabbitMQ's ids (pids) of the connections whose client named itself `connection_name`."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-s"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    wanted = f'{{"connection_name","{connection_name}"}}'
    return [line.split("\t", 1)[0] for line in listing.splitlines() if wanted in line]


def close_rabbitmq_connections(connection_name: str) -> int:
    """Have RabbitMQ close them (as it does when it stops); returns how many it closed."""
    closed = 0
    for pid in rabbitmq_connections(connection_name):
        done = subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "closed by a test"], capture_output=True, text=True, timeout=30
        )
        closed += done.returncode == 0
    return closed


class BrokerProxy:
    """A TCP relay to RabbitMQ that a test can take down and bring back (a broker outage seen from a client:
    connections cut, then refused, then accepted again), without touching the broker others use."""

    def __init__(self, upstream=("127.0.0.1", 5672)):
        self.upstream = upstream
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> BrokerProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port, self.listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Cut every relayed connection and refuse new ones until start()."""
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets, self.listener = [], None

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)
