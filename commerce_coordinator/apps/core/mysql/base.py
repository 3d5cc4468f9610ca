"""Django's MySQL/MariaDB backend, with an atomic block begun by ``START TRANSACTION`` (ADR 75).

Django's backend begins a transaction with ``SET autocommit=0`` and, after its COMMIT or ROLLBACK, ends it with
``SET autocommit=1``: three round trips per transaction. Here the session stays in autocommit mode; a transaction
is begun by ``START TRANSACTION`` and ended by its COMMIT or ROLLBACK: two. A deadlock (MariaDB error 1213) rolls
the whole transaction back on the server, after which the session would autocommit: the block is marked for
rollback at once, so that no later statement of it runs outside a transaction.
"""

from django.db.backends.mysql import base
from django.db.utils import DatabaseErrorWrapper
from django.utils.functional import cached_property

ER_LOCK_DEADLOCK = 1213  # InnoDB rolled the whole transaction back


class _ErrorWrapper(DatabaseErrorWrapper):
    """Django's error translation; a deadlock inside an atomic block also marks the block for rollback."""

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None and self.wrapper.in_atomic_block and _deadlock(exc_value):
            self.wrapper.needs_rollback = True
        return super().__exit__(exc_type, exc_value, traceback)


def _deadlock(exc) -> bool:
    args = getattr(exc, "args", ())
    return bool(args) and args[0] == ER_LOCK_DEADLOCK


class DatabaseWrapper(base.DatabaseWrapper):
    transaction_begun = False

    def get_connection_params(self):
        """mysqlclient turns autocommit off when it connects unless told otherwise: on, as Django sets it next."""
        return {**super().get_connection_params(), "autocommit": self.settings_dict["AUTOCOMMIT"]}

    def get_new_connection(self, conn_params):
        self.transaction_begun = False  # a new session: in autocommit mode, no transaction of ours open
        return super().get_new_connection(conn_params)

    @cached_property
    def wrap_database_errors(self):
        return _ErrorWrapper(self)

    def _set_autocommit(self, autocommit):
        """Entering a transaction: START TRANSACTION. Leaving one: nothing, its COMMIT or ROLLBACK ended it (or,
        if neither was sent, a COMMIT, as ``SET autocommit=1`` would have done)."""
        if not self.settings_dict["AUTOCOMMIT"]:  # a session Django keeps out of autocommit: Django's own way
            return super()._set_autocommit(autocommit)
        with self.wrap_database_errors:
            if not autocommit:
                with self.connection.cursor() as cursor:
                    cursor.execute("START TRANSACTION")
                self.transaction_begun = True
            elif self.transaction_begun:
                self.connection.commit()
                self.transaction_begun = False

    def _commit(self):
        self.transaction_begun = False
        return super()._commit()

    def _rollback(self):
        self.transaction_begun = False
        return super()._rollback()
