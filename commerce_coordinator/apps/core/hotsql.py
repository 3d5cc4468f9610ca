"""The hot statements of durable work (claim, re-read, finish, settle, record) as SQL text built once per model.

They are the statements the ORM sends, written from the models' fields, without the ORM's per-call query
building and compiling: on the 2-core bench machine that build is 1-3 ms of CPU per statement, the largest part
of a line task's CPU (bench/fulfillment.md, ADR 0072). Only plain shapes are covered (a conditional UPDATE,
a row by primary key with one level of select_related); anything else is the ORM's.

    hotsql.update(Model, {"status": "done", ...}, "{id} = %s AND {claim_token} = %s", [pk, token],
                  increment=("attempts",), keep_if_null=("trace_id",))   # -> matched rows
    hotsql.update_each(Model, {pk: {"result": ...}, ...}, {"status": "done"}, "{status} = %s", ["running"])
    hotsql.insert([Model(...), ...])   # one INSERT, primary keys set
    hotsql.get(Model, pk)    # -> instance (with the default manager's select_related) or None
    hotsql.update_then_get(Model, {...}, where, params, pk)   # -> (matched, instance): one round trip on MariaDB
    hotsql.read_then_update((sql, params), Model, {...}, where, params)   # -> (rows read, matched): the same
    hotsql.execute_together(connection, [(sql, params), ...])   # several per round trip on MariaDB
    hotsql.rows(Model, ("status",), "{id} = %s", [pk], for_update=True)   # -> [("fulfilling",)]
"""

from __future__ import annotations

import string

from django.db import connections, router

_sql_cache: dict[tuple, str] = {}
_read_cache: dict[tuple, tuple | None] = {}


def _quoted_columns(model, connection) -> dict[str, str]:
    """Field name (and attname, and "pk") -> quoted column, for the WHERE templates."""
    qn = connection.ops.quote_name
    columns = {"pk": qn(model._meta.pk.column)}
    for field in model._meta.concrete_fields:
        columns[field.name] = columns[field.attname] = qn(field.column)
    return columns


class _Columns(string.Formatter):
    def __init__(self, columns):
        self.columns = columns

    def get_value(self, key, args, kwargs):
        return self.columns[key]


def update(model, values: dict, where: str, where_params: list, increment=(), keep_if_null=()) -> int:
    """UPDATE model's table SET values (adapted as the ORM adapts them), `increment` columns + 1, and
    `keep_if_null` columns only when given a value, WHERE `where` ({field} names its column); matched rows."""
    connection = connections[router.db_for_write(model)]
    sql, params = _update_statement(model, connection, values, where, where_params, increment, keep_if_null)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def takes_statements_together(connection) -> bool:
    """Whether one execute() may carry several statements ("a; b"), their results read in turn by nextset():
    MySQL/MariaDB through mysqlclient, whose ``multi_statements`` is on unless the database's OPTIONS turn it
    off. Where not, each statement is its own round trip."""
    return (
        connection.vendor == "mysql"
        and getattr(connection.Database, "__name__", "") == "MySQLdb"
        and connection.settings_dict["OPTIONS"].get("multi_statements", True)
    )


# Statements sent together stay well under the server's max_allowed_packet (16 MiB by default; characters here,
# at most 4 bytes each, escaping included); a larger one goes alone, as it would have anyway.
TOGETHER_MAX_CHARS = 256 * 1024


def execute_together(connection, statements: list[tuple[str, list]]) -> list[tuple[int, tuple]]:
    """Run the statements [(sql, params)], several per round trip where the database takes them so (up to
    TOGETHER_MAX_CHARS each), one per round trip elsewhere; (rowcount as the driver gives it, rows fetched) of
    each. An error of any is raised as when it is sent alone, the statements after it not run."""
    results = []
    with connection.cursor() as cursor:
        if not takes_statements_together(connection):
            for sql, params in statements:
                cursor.execute(sql, params)
                results.append(_result(cursor))
            return results
        for group in _round_trips(statements):
            cursor.execute("; ".join(sql for sql, _ in group), [p for _, params in group for p in params])
            for index in range(len(group)):
                if index:
                    cursor.nextset()  # the next statement's result: its error, if any, is raised here
                results.append(_result(cursor))
    return results


def _result(cursor) -> tuple[int, tuple]:
    """The current statement's (rowcount, rows): rows only for a statement that returns some."""
    return cursor.rowcount, (tuple(cursor.fetchall()) if cursor.description else ())


def _round_trips(statements: list[tuple[str, list]]):
    group, size = [], 0
    for sql, params in statements:
        cost = len(sql) + sum(len(p) if isinstance(p, str | bytes) else 8 for p in params)
        if group and size + cost > TOGETHER_MAX_CHARS:
            yield group
            group, size = [], 0
        group.append((sql, params))
        size += cost
    if group:
        yield group


def update_then_get(model, values: dict, where: str, where_params: list, pk, increment=(), keep_if_null=()):
    """update(), then get(model, pk) in the same round trip where the database takes several statements at
    once (execute_together): a claim and its re-read. (matched rows, the row or None when none matched)."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    plan = _read_plan(model, connection)
    if plan is None or not takes_statements_together(connection):  # no read for a claim not won
        matched = update(model, values, where, where_params, increment, keep_if_null)
        return matched, (get(model, pk) if matched else None)
    claim = _update_statement(model, connection, values, where, where_params, increment, keep_if_null)
    (matched, _), (_, rows) = execute_together(connection, [claim, (plan[0], [pk])])
    return matched, (_instance(plan, rows[0], alias, connection) if matched and rows else None)


def read_then_update(read: tuple[str, list], model, values: dict, where: str, where_params: list):
    """The caller's read `read` (SQL, params), then update(), in the same round trip where the database takes
    several statements at once (a lock taken before a write, ADR 75). (the read's rows, matched rows)."""
    connection = connections[router.db_for_write(model)]
    write = _update_statement(model, connection, values, where, where_params)
    (_, rows), (matched, _) = execute_together(connection, [read, write])
    return rows, matched


def _update_statement(model, connection, values, where, where_params, increment=(), keep_if_null=()):
    """The SQL (built once per shape) and parameters of update()."""
    fields = [model._meta.get_field(name) for name in values]
    key = ("update", model, connection.vendor, tuple(values), where, tuple(increment), tuple(keep_if_null))
    sql = _sql_cache.get(key)
    if sql is None:
        columns = _quoted_columns(model, connection)
        sets = [
            f"{column} = COALESCE(%s, {column})" if f.name in keep_if_null else f"{column} = %s"
            for f, column in ((f, columns[f.name]) for f in fields)
        ]
        sets += [f"{columns[name]} = {columns[name]} + 1" for name in increment]
        table = connection.ops.quote_name(model._meta.db_table)
        sql = _sql_cache[key] = f"UPDATE {table} SET {', '.join(sets)} WHERE {_Columns(columns).format(where)}"
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    return sql, params + list(where_params)


def update_each(model, rows: dict, shared: dict, where: str = "", where_params=()) -> int:
    """One UPDATE of several rows, each to its own values: `rows` {pk: {field: value}} (the same fields in each,
    set through a CASE on the primary key), `shared` the values every row gets, WHERE the pk is one of them
    (and `where`, {field} naming its column); matched rows. A chunk's answers, finished or recorded together."""
    if not rows:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    varying = [model._meta.get_field(name) for name in next(iter(rows.values()))]
    fixed = [model._meta.get_field(name) for name in shared]
    key = ("update_each", model, connection.vendor, len(rows), tuple(f.name for f in varying), tuple(shared), where)
    sql = _sql_cache.get(key)
    if sql is None:
        columns = _quoted_columns(model, connection)
        whens = " ".join(["WHEN %s THEN %s"] * len(rows))
        sets = [f"{columns[f.name]} = CASE {columns['pk']} {whens} END" for f in varying]
        sets += [f"{columns[f.name]} = %s" for f in fixed]
        condition = f"{columns['pk']} IN ({', '.join(['%s'] * len(rows))})"
        if where:
            condition += f" AND {_Columns(columns).format(where)}"
        table = connection.ops.quote_name(model._meta.db_table)
        sql = _sql_cache[key] = f"UPDATE {table} SET {', '.join(sets)} WHERE {condition}"
    params = []
    for f in varying:
        for pk, values in rows.items():
            params += [pk, f.get_db_prep_save(values[f.name], connection)]
    params += [f.get_db_prep_save(shared[f.name], connection) for f in fixed]
    params += list(rows) + list(where_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert(objs: list) -> None:
    """INSERT `objs` (of one model, not saved yet) in one statement, their fields prepared as the ORM prepares
    them (auto_now and the like included), and set their primary keys (RETURNING, or the last row id)."""
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    returning = connection.features.can_return_rows_from_bulk_insert
    if not returning and len(objs) > 1:
        model._default_manager.bulk_create(objs)
        return
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.auto_field]
    key = ("insert", model, connection.vendor, len(objs), returning)
    sql = _sql_cache.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = _sql_cache[key] = (
            f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * len(objs))}" + (f" RETURNING {qn(model._meta.pk.column)}" if returning else "")
        )
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [pk for (pk,) in cursor.fetchall()] if returning else [cursor.lastrowid]
    for obj, pk in zip(objs, pks, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, alias


def refused_statement_undone_alone(model) -> bool:
    """Whether a write of `model` now runs inside a transaction that a statement refused by a constraint (a
    duplicate key) leaves going, that statement alone undone: MariaDB/MySQL and SQLite do, PostgreSQL aborts
    the transaction. Then the write needs no savepoint around it (ADR 75)."""
    connection = connections[router.db_for_write(model)]
    return connection.in_atomic_block and connection.vendor in ("mysql", "sqlite")


def rows(model, names: tuple, where: str, where_params: list, for_update: bool = False) -> list[tuple]:
    """SELECT the fields `names` of model's rows WHERE `where` ({field} names its column), converted as the ORM
    converts them; `for_update`: locking the rows read (a no-op where the database has no row locks)."""
    alias = router.db_for_read(model) if not for_update else router.db_for_write(model)
    connection = connections[alias]
    for_update = for_update and connection.features.has_select_for_update
    key = ("rows", model, connection.vendor, names, where, for_update)
    plan = _read_cache.get(key)
    if plan is None:
        columns = _quoted_columns(model, connection)
        table = model._meta.db_table
        cols = []
        for name in names:
            col = model._meta.get_field(name).get_col(table)
            cols.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        sql = (
            f"SELECT {', '.join(columns[name] for name in names)} FROM {connection.ops.quote_name(table)} "
            f"WHERE {_Columns(columns).format(where)}{' FOR UPDATE' if for_update else ''}"
        )
        plan = _read_cache[key] = (sql, cols)
    sql, cols = plan
    with connection.cursor() as cursor:
        cursor.execute(sql, list(where_params))
        fetched = cursor.fetchall()
    if not any(converters for _, converters in cols):
        return [tuple(row) for row in fetched]
    return [
        tuple(_convert(value, col, converters, connection) for value, (col, converters) in zip(row, cols, strict=True))
        for row in fetched
    ]


def _convert(value, col, converters, connection):
    for converter in converters:
        value = converter(value, col, connection)
    return value


def get(model, pk):
    """The row `pk` as the default manager would return it (one level of select_related included), or None.

    Falls back to the ORM when the manager does more than select_related (filters, deferred fields...)."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    plan = _read_plan(model, connection)
    if plan is None:
        return model._default_manager.filter(pk=pk).first()
    with connection.cursor() as cursor:
        cursor.execute(plan[0], [pk])
        row = cursor.fetchone()
    return None if row is None else _instance(plan, row, alias, connection)


def _instance(plan, row, alias, connection):
    """The instance (and the select_related ones it carries) of a row read by a `_read_plan` statement."""
    objects, start = [], 0
    for part_model, cols, attnames, fk in plan[1]:
        values = list(row[start : start + len(cols)])
        start += len(cols)
        for i, (col, converters) in enumerate(cols):
            values[i] = _convert(values[i], col, converters, connection)
        obj = None if fk is not None and values[0] is None else part_model.from_db(alias, attnames, values)
        if fk is not None:
            fk.set_cached_value(objects[0], obj)
        objects.append(obj)
    return objects[0]


def _read_plan(model, connection):
    """(SQL, [(model, [(col, converters)], attnames, the FK that reaches it or None)]) for `get`, once per model."""
    key = (model, connection.vendor)
    if key in _read_cache:
        return _read_cache[key]
    query = model._default_manager.get_queryset().query
    related = query.select_related
    plain = not (query.where or query.annotations or query.extra or query.deferred_loading[0] or query.distinct)
    if not plain or related is True or (related and any(related.values())):
        _read_cache[key] = None
        return None
    qn = connection.ops.quote_name
    table = model._meta.db_table
    parts = [(model, table, None)]
    joins = []
    for i, name in enumerate(related or {}):
        fk = model._meta.get_field(name)
        alias = f"R{i}"
        kind = "LEFT OUTER JOIN" if fk.null else "INNER JOIN"
        target = fk.related_model
        joins.append(
            f"{kind} {qn(target._meta.db_table)} {alias} ON {alias}.{qn(fk.target_field.column)} = "
            f"{qn(table)}.{qn(fk.column)}"
        )
        parts.append((target, alias, fk))
    selects, plan_parts = [], []
    for part_model, alias, fk in parts:
        cols = []
        for field in part_model._meta.concrete_fields:
            col = field.get_col(alias)
            cols.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
            selects.append(f"{qn(alias)}.{qn(field.column)}")
        plan_parts.append((part_model, cols, [f.attname for f in part_model._meta.concrete_fields], fk))
    sql = (
        f"SELECT {', '.join(selects)} FROM {qn(table)} {' '.join(joins)} "
        f"WHERE {qn(table)}.{qn(model._meta.pk.column)} = %s"
    )
    _read_cache[key] = (sql, plan_parts)
    return _read_cache[key]
