"""Order numbers and course run keys are case-sensitive (issue 9, item 2): on MySQL/MariaDB, whose default
collation (utf8mb4_unicode_ci) is not, "CASE-x-AB" would be taken for "CASE-x-ab" (another buyer's order) and
two runs differing by case in one order would collide on the line's unique key. A binary collation there, as
payments has for its ids; SQLite compares bytes already."""

from django.db import migrations

COLUMNS = {"lms_order": {"order_number": 128}, "lms_orderline": {"course_run_key": 255}}


def binary_keys(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    quote = connection.ops.quote_name
    for table, columns in COLUMNS.items():
        for column, length in columns.items():
            schema_editor.execute(
                f"ALTER TABLE {quote(table)} MODIFY {quote(column)} "
                f"varchar({length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
            )


class Migration(migrations.Migration):
    atomic = False  # MySQL cannot roll DDL back anyway

    dependencies = [("lms", "0002_orderline_durable_work_item")]

    operations = [migrations.RunPython(binary_keys, migrations.RunPython.noop)]
