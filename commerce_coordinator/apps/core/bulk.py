"""Multi-row writes for the hot paths of batch work (billing pages, durable items stored in bulk)."""

from __future__ import annotations

from django.db import transaction
from django.db.models.constants import OnConflict


def insert_rows(model, fixed: dict, rows: list[dict], ignore: bool = False) -> None:
    """One multi-row INSERT (the driver batches executemany), optionally ignoring unique conflicts.

    The ORM's bulk_create prepares every value of every row through its field (most of create_invoices'
    time at 100,000 rows); here the constant values are prepared once and only the varying ones per row.
    `fixed`: values shared by every row (a field in neither takes its default); `rows`: the varying ones,
    the same keys (field attnames) in each.
    """
    if not rows:
        return
    connection = transaction.get_connection()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    varying = [f for f in fields if f.attname in rows[0]]
    constant = {
        f.attname: f.get_db_prep_save(fixed[f.attname] if f.attname in fixed else f.get_default(), connection)
        for f in fields
        if f.attname not in rows[0]
    }
    columns = [f.column for f in fields]
    conflict = OnConflict.IGNORE if ignore else None
    sql = "{} {} ({}) VALUES ({}) {}".format(
        connection.ops.insert_statement(on_conflict=conflict),
        connection.ops.quote_name(model._meta.db_table),
        ", ".join(connection.ops.quote_name(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
        connection.ops.on_conflict_suffix_sql(fields, conflict, None, None) if ignore else "",
    )
    params = []
    for row in rows:
        prepared = {f.attname: f.get_db_prep_save(row[f.attname], connection) for f in varying}
        params.append([prepared[f.attname] if f.attname in prepared else constant[f.attname] for f in fields])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_group(model, pks: list, expected: dict, values: dict, marker: dict) -> set:
    """One conditional UPDATE of the rows `pks` that still match `expected` (e.g. the state and version they were
    read at); the pks it moved: all of them, none, or, when some had moved meanwhile, those that now carry
    `marker` (this very write's values, e.g. its new version and timestamp)."""
    return moved(model, pks, model._default_manager.filter(pk__in=pks, **expected).update(**values), marker)


def moved(model, pks: list, count: int, marker: dict) -> set:
    """The rows `pks` that a conditional UPDATE matching `count` of them moved: all, none, or (when some had
    moved meanwhile) those that now carry `marker`, that very write's values."""
    if count == len(pks):
        return set(pks)
    if not count:
        return set()
    return set(model._default_manager.filter(pk__in=pks, **marker).values_list("pk", flat=True))
