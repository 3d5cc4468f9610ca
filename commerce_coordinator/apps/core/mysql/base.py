"""Django's MySQL/MariaDB backend, with an atomic block begun by ``START TRANSACTION`` (ADR 75).

Django's backend begins a transaction with ``SET autocommit=0`` and, after its COMMIT or ROLLBACK, ends it with
``SET autocommit=1``: three round trips per transaction besides its statements. Here the session stays in
autocommit mode; ``START TRANSACTION`` goes in the same round trip as the block's first statement (mysqlclient
sends several statements at once: its ``multi_statements``, on by default), and the COMMIT or ROLLBACK ends it:
one round trip, none for a block that sent nothing.

Wherever the server may end the transaction on its own, the rest of it is Django's way (``SET autocommit=0``,
then its COMMIT or ROLLBACK and ``SET autocommit=1``), so that nothing after it autocommits: before a statement
that may commit (DDL, TRUNCATE, LOCK TABLES, COMMIT, CALL, ...), after an operational error (a deadlock, a lock
wait), and for a whole block while the session holds table locks (START TRANSACTION would release them). A
deadlock (error 1213: the whole transaction rolled back) also marks the atomic block for rollback.
"""

import re

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.db.backends.mysql import base
from django.db.backends.mysql.base import Database
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

ER_LOCK_DEADLOCK = 1213  # InnoDB rolled the whole transaction back
BEGIN = "START TRANSACTION;"
BEGIN_PREFIX = f"{BEGIN} ".encode()  # as mysqlclient keeps the statement sent (bytes)

_LEAD = r"(?:\s+|/\*.*?\*/|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$))*"  # blanks and comments before the first word
# Statements that may end a transaction: MariaDB's "statements that cause an implicit commit", transaction
# control sent as SQL, and those that run other statements (CALL, EXECUTE). A false match costs a round trip.
MAY_COMMIT = re.compile(
    _LEAD + r"(?:ALTER|CREATE|DROP|RENAME|TRUNCATE|LOCK|UNLOCK|GRANT|REVOKE|ANALYZE|OPTIMIZE|REPAIR|CHECK|FLUSH"
    r"|RESET|CACHE|LOAD\s+INDEX|INSTALL|UNINSTALL|BEGIN|START|COMMIT|ROLLBACK(?!\s+(?:WORK\s+)?TO\b)|XA|CALL"
    r"|EXECUTE|SET\s+PASSWORD|STOP|CHANGE|SHUTDOWN)\b",
    re.IGNORECASE | re.DOTALL,
)
# Transaction characteristics (the next transaction's, or the session's): sent before the START TRANSACTION.
SETS_TRANSACTION = re.compile(
    _LEAD + r"SET\s+(?:(?:SESSION|LOCAL)\s+|@@(?:SESSION\.|LOCAL\.)?)?"
    r"(?:TRANSACTION|TX_ISOLATION|TRANSACTION_ISOLATION|TX_READ_ONLY|TRANSACTION_READ_ONLY)\b",
    re.IGNORECASE | re.DOTALL,
)
TABLE_LOCKS = re.compile(_LEAD + r"(LOCK|UNLOCK)\s+TABLES?\b", re.IGNORECASE | re.DOTALL)


class _ErrorWrapper(DatabaseErrorWrapper):
    """Django's error translation; a deadlock inside an atomic block also marks the block for rollback."""

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None and self.wrapper.in_atomic_block and _deadlock(exc_value):
            self.wrapper.needs_rollback = True
        return super().__exit__(exc_type, exc_value, traceback)


def _deadlock(exc) -> bool:
    args = getattr(exc, "args", ())
    return bool(args) and args[0] == ER_LOCK_DEADLOCK


class CursorWrapper(base.CursorWrapper):
    """Django's cursor; the first statement of a transaction carries its START TRANSACTION."""

    def __init__(self, cursor, db):
        super().__init__(cursor)
        self.db = db

    def execute(self, query, args=None):
        db = self.db
        text = isinstance(query, str)
        locks = text and TABLE_LOCKS.match(query)
        if locks:
            db.tables_locked = locks.group(1).upper() == "LOCK"
        if not db.transaction_begun:  # autocommit, or Django's own way
            return super().execute(query, args)
        if text and not db.autocommit_off:
            if db.begin_pending and SETS_TRANSACTION.match(query):
                db.characteristics_set = True
                return super().execute(query, args)  # before the BEGIN, which they then apply to
            if MAY_COMMIT.match(query):
                db.continue_with_autocommit_off()  # before it: whatever it ends, what follows is a transaction
        try:
            if db.begin_pending:
                return self._begin_with(query, args)
            return super().execute(query, args)
        except Database.OperationalError:
            db.continue_with_autocommit_off()
            raise

    def executemany(self, query, args):
        db = self.db
        if not db.transaction_begun:
            return super().executemany(query, args)
        try:
            if db.begin_pending:
                db.begin_pending = False  # before sending: a ROLLBACK is then sent whatever happens
                self.cursor.execute("START TRANSACTION")
            return super().executemany(query, args)
        except Database.OperationalError:
            db.continue_with_autocommit_off()
            raise

    def callproc(self, procname, args=()):
        """A procedure may commit, or run DDL: Django's way from here on in a transaction."""
        if self.db.transaction_begun:
            self.db.continue_with_autocommit_off()
        return self.cursor.callproc(procname, args)

    def nextset(self):
        """The next statement's result, of several sent at once (core.hotsql): its error, as an error of
        execute(), may have ended the transaction on the server."""
        try:
            return self.cursor.nextset()
        except Database.OperationalError as e:
            if e.args[0] in self.codes_for_integrityerror:  # as execute() says it (a CHECK constraint: 4025)
                raise IntegrityError(*tuple(e.args)) from e
            if self.db.transaction_begun:
                self.db.continue_with_autocommit_off()
            raise

    def _begin_with(self, query, args):
        """``START TRANSACTION; <query>``. A statement mysqlclient cannot build (a string it cannot encode) raises
        before anything is sent, and leaves the BEGIN to the next; once built, the BEGIN counts as sent (so a
        ROLLBACK ends it even if an interrupt cuts the round trip short)."""
        sql = self.cursor._mogrify(f"{BEGIN} {query}", args)  # bytes, as execute() builds them (mysqlclient 2.x)
        self.db.begin_pending = False
        try:
            self.cursor.execute(sql)
            self.cursor.nextset()  # the statement's own result (or its error)
            return self.cursor.rowcount
        except Database.OperationalError as e:
            if e.args[0] in self.codes_for_integrityerror:
                raise IntegrityError(*tuple(e.args)) from e
            raise

    @property
    def _executed(self):
        """The statement last sent, as Django's debug log and tests read it (without the BEGIN it carried: Django
        logs that as BEGIN of its own)."""
        sent = self.cursor._executed
        prefix = BEGIN_PREFIX if isinstance(sent, bytes) else BEGIN_PREFIX.decode()
        return sent[len(prefix) :] if sent and sent.startswith(prefix) else sent


class DatabaseWrapper(base.DatabaseWrapper):
    transaction_begun = False  # Django is in a transaction that a START TRANSACTION of ours begins ...
    begin_pending = False  # ... with the next statement (nothing sent yet)
    autocommit_off = False  # ... or the session is in SET autocommit=0 for the rest of it (Django's way)
    characteristics_set = False  # a SET TRANSACTION waits for the BEGIN still pending
    tables_locked = False  # LOCK TABLES in force: transactions Django's way (START TRANSACTION would unlock)

    def get_connection_params(self):
        """mysqlclient turns autocommit off when it connects unless told otherwise: on, as Django sets it next.
        Its ``multi_statements`` must stay on: the BEGIN goes with the first statement."""
        params = super().get_connection_params()
        if not params.get("multi_statements", True):
            raise ImproperlyConfigured(
                f"DATABASES[{self.alias!r}]: core's MySQL backend needs mysqlclient's multi_statements; remove "
                "OPTIONS['multi_statements'] or set ENGINE to django.db.backends.mysql"
            )
        return {**params, "autocommit": self.settings_dict["AUTOCOMMIT"]}

    def get_new_connection(self, conn_params):
        self.transaction_begun = self.begin_pending = self.autocommit_off = False  # a new session: autocommit
        self.characteristics_set = self.tables_locked = False
        return super().get_new_connection(conn_params)

    def create_cursor(self, name=None):
        return CursorWrapper(self.connection.cursor(), self)

    @cached_property
    def wrap_database_errors(self):
        return _ErrorWrapper(self)

    def continue_with_autocommit_off(self):
        """``SET autocommit=0`` for the rest of the transaction: whatever the server does to it (an implicit
        commit, a deadlock's rollback), what follows is inside a transaction that the COMMIT or ROLLBACK ends."""
        if self.autocommit_off:
            return
        self.autocommit_off, self.begin_pending = True, False
        try:
            self.connection.autocommit(False)
        except Database.Error:  # the session is lost: the error being raised says so, and Django reconnects
            pass

    def _set_autocommit(self, autocommit):
        """Entering a transaction: its START TRANSACTION goes with its first statement. Leaving one: nothing, its
        COMMIT or ROLLBACK ended it (or, if neither was sent, a COMMIT, as ``SET autocommit=1`` would have done)."""
        if not self.settings_dict["AUTOCOMMIT"]:  # a session Django keeps out of autocommit: Django's own way
            return super()._set_autocommit(autocommit)
        if not autocommit:
            self.transaction_begun = self.begin_pending = True
            if self.tables_locked:
                self.continue_with_autocommit_off()
            return
        open_on_server = self.transaction_begun and not self.begin_pending
        self.transaction_begun = self.begin_pending = self.characteristics_set = False
        if self.autocommit_off:
            self.autocommit_off = False
            super()._set_autocommit(True)  # SET autocommit=1: commits what is open
        elif open_on_server:
            with self.wrap_database_errors:
                self.connection.commit()

    def _commit(self):
        return self._end(super()._commit)

    def _rollback(self):
        return self._end(super()._rollback)

    def _end(self, end):
        """COMMIT or ROLLBACK, unless the transaction never began on the server (no statement was sent). Out of
        autocommit by hand (``set_autocommit(False)``), the next statement begins the next transaction."""
        if self.begin_pending and self.characteristics_set:  # a SET TRANSACTION alone: it is for this one
            self.begin_pending = False
            with self.wrap_database_errors, self.connection.cursor() as cursor:
                cursor.execute("START TRANSACTION")
        if not self.begin_pending:
            end()  # if it fails, a ROLLBACK after it is still sent
        self.characteristics_set = False
        if not self.autocommit_off and self.settings_dict["AUTOCOMMIT"]:
            self.transaction_begun = self.begin_pending = not self.autocommit
