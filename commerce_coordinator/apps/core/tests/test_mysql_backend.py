"""Core's MySQL/MariaDB backend (ADR 75): a transaction begun by START TRANSACTION, the session left in
autocommit, and a deadlock that rolled the transaction back marks its atomic block for rollback."""

import threading

import MySQLdb
import MySQLdb.cursors
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError

pytestmark = [pytest.mark.mysql_only, pytest.mark.django_db(transaction=True)]


def _counters() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Com_begin', 'Com_commit', 'Com_set_option')")
        return {name: int(value) for name, value in cursor.fetchall()}


@pytest.fixture
def probe():
    """A scratch InnoDB table of two rows, seen from a second session of our own."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE cc_probe (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
        cursor.execute("INSERT INTO cc_probe VALUES (1, 0), (2, 0)")
    other = MySQLdb.connect(**{**connection.get_connection_params(), "autocommit": True})
    yield other
    other.close()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cc_probe")


def _value_seen_by(other, pk: int) -> int:
    with other.cursor() as cursor:
        cursor.execute("SELECT v FROM cc_probe WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_an_atomic_block_is_one_start_transaction_and_one_commit(probe):
    _counters()  # the connection is open
    before = _counters()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 5 WHERE id = 1")
        assert _value_seen_by(probe, 1) == 0  # not committed yet: a transaction
    after = _counters()
    assert {name: after[name] - before[name] for name in after} == {
        "Com_begin": 1,
        "Com_commit": 1,
        "Com_set_option": 0,  # no SET autocommit=0 / =1
    }
    assert _value_seen_by(probe, 1) == 5


def test_a_block_that_sends_nothing_costs_nothing_and_its_first_statement_carries_the_begin(probe):
    _counters()
    before = _counters()
    with transaction.atomic():
        pass
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO cc_probe VALUES (%s, %s)", [3, 30])  # START TRANSACTION; INSERT ...: one trip
        assert (cursor.rowcount, cursor.lastrowid) == (1, 0)  # the INSERT's own result, not the BEGIN's
        cursor.execute("SELECT v FROM cc_probe WHERE id = %s", [3])
        assert cursor.fetchall() == ((30,),)
    after = _counters()
    assert {name: after[name] - before[name] for name in after} == {
        "Com_begin": 1,
        "Com_commit": 1,
        "Com_set_option": 0,
    }
    assert _value_seen_by(probe, 3) == 30


def test_an_error_of_the_first_statement_is_its_own_and_leaves_the_transaction_to_roll_back(probe):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO cc_probe VALUES (1, 99)")  # a duplicate key: IntegrityError, as Django's
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 4 WHERE id = 2")
        assert _value_seen_by(probe, 2) == 0
    assert _value_seen_by(probe, 2) == 4 and _value_seen_by(probe, 1) == 0


def test_a_rolled_back_block_writes_nothing_and_the_session_autocommits_after(probe):
    with pytest.raises(ZeroDivisionError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 7 WHERE id = 1")
        1 / 0  # noqa: B018
    assert _value_seen_by(probe, 1) == 0
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 8 WHERE id = 2")
    assert _value_seen_by(probe, 2) == 8  # outside a block each statement commits


def test_set_autocommit_by_hand_still_commits_what_was_left_open(probe):
    transaction.set_autocommit(False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 3 WHERE id = 1")
    transaction.set_autocommit(True)  # as SET autocommit=1 does: the open transaction commits
    assert _value_seen_by(probe, 1) == 3


def test_a_deadlock_inside_a_block_marks_it_for_rollback_so_nothing_after_it_autocommits(probe):
    with probe.cursor() as cursor:  # the other session holds more: InnoDB rolls ours back, the lighter one
        cursor.execute("CREATE TABLE cc_probe_bulk (id INT PRIMARY KEY) ENGINE=InnoDB")
    other_locked, ours_locked = threading.Event(), threading.Event()

    def other_session():
        with probe.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            cursor.execute("INSERT INTO cc_probe_bulk VALUES " + ", ".join(f"({i})" for i in range(200)))
            cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = 2")
            other_locked.set()
            ours_locked.wait(10)
            cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = 1")  # waits for ours, until ours is rolled back
            cursor.execute("ROLLBACK")

    thread = threading.Thread(target=other_session)
    thread.start()
    try:
        with pytest.raises(TransactionManagementError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE cc_probe SET v = 9 WHERE id = 1")
                other_locked.wait(10)
                ours_locked.set()
                with pytest.raises(OperationalError) as deadlock:
                    cursor.execute("UPDATE cc_probe SET v = 9 WHERE id = 2")
                assert deadlock.value.args[0] == 1213 and connection.needs_rollback
                cursor.execute("UPDATE cc_probe SET v = 9 WHERE id = 1")  # refused: the block is broken
    finally:
        thread.join(20)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE cc_probe_bulk")
    assert _value_seen_by(probe, 1) == 0 and _value_seen_by(probe, 2) == 0


def test_a_first_statement_refused_before_it_is_sent_leaves_the_begin_to_the_next_one(probe):
    with pytest.raises(ZeroDivisionError), transaction.atomic(), connection.cursor() as cursor:
        with pytest.raises(UnicodeEncodeError):  # mysqlclient cannot encode it: nothing reaches the server
            cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = %s", ["x\udc80"])
        cursor.execute("UPDATE cc_probe SET v = 6 WHERE id = 1")  # carries the START TRANSACTION
        assert _value_seen_by(probe, 1) == 0
        1 / 0  # noqa: B018
    assert _value_seen_by(probe, 1) == 0


def test_out_of_autocommit_by_hand_each_commit_begins_the_next_transaction(probe):
    transaction.set_autocommit(False)
    try:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = 1")
            transaction.commit()
            cursor.execute("UPDATE cc_probe SET v = 2 WHERE id = 2")
            assert _value_seen_by(probe, 2) == 0  # inside the next transaction
            transaction.rollback()
            transaction.rollback()  # nothing sent since: nothing to end
    finally:
        transaction.set_autocommit(True)
    assert (_value_seen_by(probe, 1), _value_seen_by(probe, 2)) == (1, 0)


def test_after_a_statement_that_commits_implicitly_the_rest_of_the_block_is_still_a_transaction(probe):
    before = _counters()
    with pytest.raises(ZeroDivisionError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = 1")
        cursor.execute("CREATE TABLE cc_probe_ddl (id INT PRIMARY KEY) ENGINE=InnoDB")  # commits, as on Django's
        cursor.execute("UPDATE cc_probe SET v = 2 WHERE id = 2")
        assert _value_seen_by(probe, 2) == 0
        1 / 0  # noqa: B018
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cc_probe_ddl")
        assert (_value_seen_by(probe, 1), _value_seen_by(probe, 2)) == (1, 0)
        cursor.execute("UPDATE cc_probe SET v = 3 WHERE id = 2")  # and the session autocommits again after it
    assert _value_seen_by(probe, 2) == 3
    after = _counters()
    assert after["Com_set_option"] - before["Com_set_option"] == 2  # SET autocommit=0 after the DDL, =1 at the end


def test_set_transaction_as_the_first_statement_sets_the_transaction_it_begins(probe):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # refused inside a transaction (1568)
        cursor.execute("SELECT v FROM cc_probe WHERE id = 1")
        with probe.cursor() as other:
            other.execute("UPDATE cc_probe SET v = 5 WHERE id = 1")
        cursor.execute("SELECT v FROM cc_probe WHERE id = 1")
        assert cursor.fetchone() == (0,)  # repeatable read: the snapshot of the first read
    with transaction.atomic(), connection.cursor() as cursor:  # the next one: the session's (Django's) default
        cursor.execute("SELECT v FROM cc_probe WHERE id = 1")
        with probe.cursor() as other:
            other.execute("UPDATE cc_probe SET v = 6 WHERE id = 1")
        cursor.execute("SELECT v FROM cc_probe WHERE id = 1")
        assert cursor.fetchone() == (6,)  # read committed


def test_a_lock_wait_timeout_inside_a_block_leaves_the_rest_of_it_inside_the_transaction(probe):
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    with probe.cursor() as other:
        other.execute("START TRANSACTION")
        other.execute("UPDATE cc_probe SET v = 1 WHERE id = 2")  # held until the end of the test
    try:
        with pytest.raises(ZeroDivisionError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE cc_probe SET v = 7 WHERE id = 1")
            with pytest.raises(OperationalError) as timeout:
                cursor.execute("UPDATE cc_probe SET v = 7 WHERE id = 2")
            assert timeout.value.args[0] == 1205  # the statement undone; whether the transaction is, the server
            cursor.execute("UPDATE cc_probe SET v = 8 WHERE id = 1")  # decides (innodb_rollback_on_timeout)
            1 / 0  # noqa: B018
    finally:
        with probe.cursor() as other:
            other.execute("ROLLBACK")
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
    assert _value_seen_by(probe, 1) == 0


@pytest.fixture
def procedures():
    """Stored procedures of a test, dropped after it: (name, body) -> created."""
    made = []

    def create(name: str, body: str):
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE PROCEDURE {name}() {body}")
        made.append(name)

    yield create
    with connection.cursor() as cursor:
        for name in made:
            cursor.execute(f"DROP PROCEDURE IF EXISTS {name}")
        cursor.execute("DROP TABLE IF EXISTS cc_probe_ddl")


@pytest.mark.parametrize(
    "ends_it",
    [
        "/* a tag */ CREATE TABLE cc_probe_ddl (id INT PRIMARY KEY) ENGINE=InnoDB",  # behind a comment
        "CALL cc_ddl()",  # a procedure that runs DDL
        "COMMIT",  # transaction control as SQL
    ],
)
def test_whatever_ends_the_transaction_on_the_server_the_rest_of_the_block_is_a_transaction(probe, procedures, ends_it):
    procedures("cc_ddl", "CREATE TABLE IF NOT EXISTS cc_probe_ddl (id INT PRIMARY KEY)")
    with pytest.raises(ZeroDivisionError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = 1")
        cursor.execute(ends_it)
        cursor.execute("UPDATE cc_probe SET v = 2 WHERE id = 2")
        assert _value_seen_by(probe, 2) == 0
        1 / 0  # noqa: B018
    assert _value_seen_by(probe, 2) == 0


def test_a_procedure_called_first_in_a_block_runs_inside_its_transaction(probe, procedures):
    procedures("cc_p", "UPDATE cc_probe SET v = 5 WHERE id = 1")
    with pytest.raises(ZeroDivisionError), transaction.atomic(), connection.cursor() as cursor:
        cursor.callproc("cc_p")
        while cursor.nextset():
            pass
        assert _value_seen_by(probe, 1) == 0
        1 / 0  # noqa: B018
    assert _value_seen_by(probe, 1) == 0


def test_table_locks_taken_before_a_block_hold_through_it(probe):
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLES cc_probe WRITE")
    try:
        with transaction.atomic(), connection.cursor() as cursor:  # START TRANSACTION would unlock them
            cursor.execute("UPDATE cc_probe SET v = 1 WHERE id = 1")
            with probe.cursor() as other:
                other.execute("SET SESSION lock_wait_timeout = 1")
                with pytest.raises(MySQLdb.OperationalError):
                    other.execute("SELECT v FROM cc_probe WHERE id = 1")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("UNLOCK TABLES")
    assert _value_seen_by(probe, 1) == 1 and not connection.tables_locked


@pytest.mark.parametrize(
    "setting",
    ["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SET SESSION tx_isolation = 'REPEATABLE-READ'"],
)
def test_the_sessions_isolation_set_first_in_a_block_applies_to_it(probe, setting):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(setting)
            cursor.execute("SELECT v FROM cc_probe WHERE id = 1")
            with probe.cursor() as other:
                other.execute("UPDATE cc_probe SET v = 5 WHERE id = 1")
            cursor.execute("SELECT v FROM cc_probe WHERE id = 1")
            assert cursor.fetchone() == (0,)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")


def test_set_transaction_alone_in_a_block_is_spent_by_it(probe):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION READ ONLY")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 6 WHERE id = 1")  # autocommit, read-write again
    assert _value_seen_by(probe, 1) == 6


class _Interrupt(BaseException):
    """A signal landing in a round trip (a Celery soft time limit, KeyboardInterrupt)."""


def test_an_interrupt_during_the_first_statements_round_trip_still_rolls_it_back(probe, monkeypatch):
    sent = MySQLdb.cursors.BaseCursor._query

    def interrupted(cursor, query):
        if b"SET v = 9" in query:
            cursor._get_db().query(query)  # the server ran it: START TRANSACTION; UPDATE
            raise _Interrupt
        return sent(cursor, query)

    monkeypatch.setattr(MySQLdb.cursors.BaseCursor, "_query", interrupted)
    with pytest.raises(_Interrupt), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 9 WHERE id = 1")
    monkeypatch.setattr(MySQLdb.cursors.BaseCursor, "_query", sent)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE cc_probe SET v = 3 WHERE id = 2")
    assert (_value_seen_by(probe, 1), _value_seen_by(probe, 2)) == (0, 3)


def test_a_constraint_refusing_a_statement_sent_second_is_an_integrity_error_as_when_sent_first(probe):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE cc_probe ADD CONSTRAINT cc_probe_v CHECK (v >= 0)")
        cursor.execute("SELECT 1; UPDATE cc_probe SET v = -1 WHERE id = 1")  # 4025, from the second
        with pytest.raises(IntegrityError):
            cursor.nextset()
        with pytest.raises(IntegrityError):
            cursor.execute("UPDATE cc_probe SET v = -1 WHERE id = 1")


def test_the_backend_refuses_a_database_without_multi_statements():
    from django.core.exceptions import ImproperlyConfigured

    from commerce_coordinator.apps.core.mysql.base import DatabaseWrapper

    settings_dict = {**connection.settings_dict, "OPTIONS": {"multi_statements": False}}
    with pytest.raises(ImproperlyConfigured, match="multi_statements"):
        DatabaseWrapper(settings_dict, alias="no_multi").get_connection_params()
