"""Provider ids are case-sensitive (Stripe's are base62): on MySQL/MariaDB, whose default collation
(utf8mb4_unicode_ci) is case-insensitive, "evt_A" and "evt_a" would collide on the unique key and the
second event would be dropped as a repeat. Give the id columns a binary collation there; SQLite compares
bytes already."""

from django.db import migrations

COLUMNS = {"event_id": 255, "payment_id": 255}


def binary_ids(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    table = connection.ops.quote_name("payments_webhookevent")
    for column, length in COLUMNS.items():
        schema_editor.execute(
            f"ALTER TABLE {table} MODIFY {connection.ops.quote_name(column)} "
            f"varchar({length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
        )


class Migration(migrations.Migration):
    atomic = False  # MySQL cannot roll DDL back anyway

    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(binary_ids, migrations.RunPython.noop)]
