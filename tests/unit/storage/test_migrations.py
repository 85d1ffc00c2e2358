"""The migration loader both backends share (bot/storage/migrations.py), on packages of its own
made here: the files it takes, their order, the expand-only marker and the gap check."""

from __future__ import annotations

import pytest

from bot.storage import migrations
from bot.storage.postgres import schema as pg_schema
from bot.storage.sqlite import schema


def package(tmp_path, monkeypatch, name: str, files: dict[str, str]) -> str:
    """An importable package ``name`` under tmp_path holding ``files``."""
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for file, sql in files.items():
        (root / file).write_text(sql)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_load_takes_the_numbered_sql_files_in_order(tmp_path, monkeypatch):
    name = package(tmp_path, monkeypatch, "mig_ordered", {
        "0002_add_column.sql": "-- expand-only\nALTER TABLE t ADD COLUMN c INTEGER;\n",
        "0001_initial.sql": "CREATE TABLE t (a INTEGER);\n",
        "notes.txt": "not a migration", "0003-bad-name.sql": "SELECT 1;"})
    found = migrations.load(name)
    assert [(m.version, m.name, m.expand_only) for m in found] == [
        (1, "initial", False), (2, "add_column", True)]
    assert "CREATE TABLE" not in repr(found[0])  # the SQL stays out of messages


def test_load_refuses_a_gap_in_the_numbers(tmp_path, monkeypatch):
    name = package(tmp_path, monkeypatch, "mig_gap", {"0001_a.sql": "SELECT 1;",
                                                      "0003_c.sql": "SELECT 1;"})
    with pytest.raises(RuntimeError, match="must run 1..n without gaps"):
        migrations.load(name)


def test_each_backend_loads_its_own_package():
    for module in (schema, pg_schema):
        found = module.migrations()
        assert module.LATEST_VERSION == len(found) > 0
        assert all(isinstance(m, migrations.Migration) for m in found)
    assert schema.migrations()[0].sql != pg_schema.migrations()[0].sql
