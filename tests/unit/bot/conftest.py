from tests.unit.storage.conftest import db_path  # noqa: F401 (fixture)
from tests.unit.storage.conftest import sqlite_storage as storage  # noqa: F401 (SQLite: the cogs' suites)
