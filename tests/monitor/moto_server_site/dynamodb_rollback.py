"""moto's TransactWriteItems, rolled back by restoring the items it names instead of every table.

moto 5.1.4's ``DynamoDBBackend.transact_write_items`` starts with ``copy.deepcopy(self.tables)``
(every item of every table, attribute by attribute) so that a cancelled transaction can put the
tables back with ``self.tables = <the copy>``. The monitor writes each scan as one transaction,
so the thousand-events run deep-copied its whole table about 200 times: over half of the moto
server's CPU there (sampled). A transaction can change only the items it names (each action
addresses one key; moto's put_item, update_item and delete_item touch nothing else when the
table has no stream), so here moto's own method runs unchanged except that its backup is a
shallow copy of ``self.tables`` (the same Table objects). Before it runs, each named item is
deep-copied with its table's key order; when moto rolls back (it assigns its backup to
``self.tables``), the tables dict is put back and each named item restored in place, in its
old position. A transaction on a table with a stream, or one whose keys cannot be read here,
takes moto's full copy. What DynamoDB answers is unchanged;
tests/monitor/test_moto_server_site.py compares both on committed and cancelled transactions.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.dynamo_type import DynamoType

original = models.DynamoDBBackend.transact_write_items
_local = threading.local()  # the tables dict whose deepcopy moto is about to take, per thread


def _deepcopy(value: Any, memo: Any = None) -> Any:
    tables = getattr(_local, "tables", None)
    if tables is not None and value is tables:
        _local.tables = None
        return dict(value)  # the backup moto assigns back on rollback: the same tables
    return copy.deepcopy(value, memo)


# moto.dynamodb.models' ``copy`` (it calls copy.deepcopy): the real module but for the tables.
_copy = types.SimpleNamespace(**{name: getattr(copy, name) for name in copy.__all__})
_copy.deepcopy = _deepcopy


class _Saved:
    """What a transaction's named items were, with the order of the keys around them."""

    def __init__(self) -> None:
        self.tables: dict[int, tuple[Any, dict[Any, Any]]] = {}  # id(table) -> table, its keys
        self.rows: dict[tuple[int, Any], dict[Any, Any]] = {}  # a range table's rows of a hash
        self.items: dict[tuple[int, Any, Any], Any] = {}  # (table, hash, range) -> copy or None

    def add(self, table: Any, hash_key: Any, range_key: Any) -> None:
        if id(table) not in self.tables:
            self.tables[id(table)] = (table, dict(table.items))  # the values: items or rows
        before = self.tables[id(table)][1]
        if table.range_key_attr is None:
            item = before.get(hash_key)
        else:
            rows = self.rows.setdefault((id(table), hash_key), dict(before.get(hash_key, {})))
            item = rows.get(range_key)
        self.items[(id(table), hash_key, range_key)] = copy.deepcopy(item)

    def restore(self) -> None:
        for table, before in self.tables.values():
            items = dict(before)
            for (key_table, hash_key), rows in self.rows.items():
                if key_table == id(table) and hash_key in before:
                    items[hash_key] = rows
            for (key_table, hash_key, range_key), item in self.items.items():
                if key_table != id(table):
                    continue
                if table.range_key_attr is None:
                    if item is not None:
                        items[hash_key] = item  # where it was (a named key existed before)
                elif item is not None:
                    items[hash_key][range_key] = item
            table.items.clear()
            table.items.update(items)


def _saved(backend: Any, transact_items: list[dict[str, Any]]) -> _Saved | None:
    """The named items' copies; None when moto's full copy is needed instead."""
    saved = _Saved()
    try:
        for action in transact_items:
            [(kind, op)] = action.items()
            table = backend.tables[op["TableName"]]
            if table.stream_shard is not None:
                return None
            key = op["Item"] if kind == "Put" else op["Key"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = None if table.range_key_attr is None else \
                DynamoType(key[table.range_key_attr])
            saved.add(table, hash_key, range_key)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # moto itself refuses the request, from its full copy
    return saved


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    saved = _saved(self, transact_items) if isinstance(transact_items, list) else None
    if saved is None:
        return original(self, transact_items)  # type: ignore[no-any-return]
    tables = self.tables
    _local.tables = tables
    try:
        return original(self, transact_items)  # type: ignore[no-any-return]
    except BaseException:
        if self.tables is not tables:  # moto rolled back: to our shallow copy
            self.tables = tables
            saved.restore()
        raise
    finally:
        _local.tables = None


def install() -> None:
    models.copy = _copy  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
