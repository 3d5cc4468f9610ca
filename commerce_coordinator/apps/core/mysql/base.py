"""Django's MySQL/MariaDB backend, with an atomic block begun by ``START TRANSACTION`` (ADR 75).

Django's backend begins a transaction with ``SET autocommit=0`` and, after its COMMIT or ROLLBACK, ends it with
``SET autocommit=1``: three round trips per transaction besides its statements. Here the session stays in
autocommit mode; ``START TRANSACTION`` goes in the same round trip as the block's first statement (mysqlclient
sends several statements at once: its ``multi_statements``, on by default), and the COMMIT or ROLLBACK ends it:
one round trip, none for a block that sent nothing. A deadlock (MariaDB error 1213) rolls the whole transaction
back on the server, after which the session would autocommit: the block is then marked for rollback at once, so
that no later statement of it runs outside a transaction.
"""

from django.db import IntegrityError
from django.db.backends.mysql import base
from django.db.backends.mysql.base import Database
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

ER_LOCK_DEADLOCK = 1213  # InnoDB rolled the whole transaction back
BEGIN = "START TRANSACTION;"
BEGIN_PREFIX = f"{BEGIN} ".encode()  # as mysqlclient keeps the statement sent (bytes)


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
        if not self.db.begin_pending:
            return super().execute(query, args)
        self.db.begin_pending = False
        try:
            self.cursor.execute(f"{BEGIN} {query}", args)
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

    def executemany(self, query, args):
        if self.db.begin_pending:
            self.db.begin_pending = False
            self.cursor.execute("START TRANSACTION")
        return super().executemany(query, args)


class DatabaseWrapper(base.DatabaseWrapper):
    transaction_begun = False  # a START TRANSACTION of ours is (or is about to be) open
    begin_pending = False  # ... and goes with the next statement

    def get_connection_params(self):
        """mysqlclient turns autocommit off when it connects unless told otherwise: on, as Django sets it next."""
        return {**super().get_connection_params(), "autocommit": self.settings_dict["AUTOCOMMIT"]}

    def get_new_connection(self, conn_params):
        self.transaction_begun = self.begin_pending = False  # a new session: autocommit, no transaction of ours
        return super().get_new_connection(conn_params)

    def create_cursor(self, name=None):
        return CursorWrapper(self.connection.cursor(), self)

    @cached_property
    def wrap_database_errors(self):
        return _ErrorWrapper(self)

    def _set_autocommit(self, autocommit):
        """Entering a transaction: START TRANSACTION. Leaving one: nothing, its COMMIT or ROLLBACK ended it (or,
        if neither was sent, a COMMIT, as ``SET autocommit=1`` would have done)."""
        if not self.settings_dict["AUTOCOMMIT"]:  # a session Django keeps out of autocommit: Django's own way
            return super()._set_autocommit(autocommit)
        if not autocommit:
            self.transaction_begun = self.begin_pending = True
        elif self.transaction_begun:
            self._commit()

    def _commit(self):
        return self._end(super()._commit)

    def _rollback(self):
        return self._end(super()._rollback)

    def _end(self, end):
        """COMMIT or ROLLBACK, unless the transaction never began on the server (no statement was sent)."""
        pending, self.begin_pending, self.transaction_begun = self.begin_pending, False, False
        if not pending:
            return end()
        return None
