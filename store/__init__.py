"""Storage: the one package that knows the tables.

Migrations (:mod:`store.migrate`), connections (:mod:`store.db`), the readings writer
(:mod:`store.writer`), the registry (:mod:`store.registry`) and upkeep of partitions,
rollups and policies (:mod:`store.maintenance`). Everything else reads the documented views.
"""


class StoreError(Exception):
    """Base class of the errors raised by :mod:`store`."""


class MigrationError(StoreError):
    """A migration could not be applied, or the database is not in the expected state."""


class RegistryError(StoreError):
    """Registry input is invalid; the message names the row and the field."""
