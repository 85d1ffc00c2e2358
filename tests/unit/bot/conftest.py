from tests.unit.storage.conftest import db_path, storage  # noqa: F401 (fixtures)
