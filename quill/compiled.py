"""A hot ORM lookup compiled by Django once per process, then run as that SQL (issue 21).

A documented exception to "always the ORM": building a query is most of its cost on the
request path (a token lookup with its user and organisation: ~0.9 ms of Python to compile,
~0.2 ms to run). ``CompiledLookup`` asks Django's own compiler for the statement, its
column layout and its value converters once, from an ordinary queryset, and afterwards
only executes that statement and builds the instances the way Django's ``select_related``
iterator does. So the SQL cannot drift from the model: it is the ORM's, for the same
queryset. Use it only for lookups by one unique value on a measured hot path, and keep a
test that the compiled and the plain ORM forms return the same row
(``tests/accounts/test_api_tokens.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import connections
from django.db.models import Field, Model, QuerySet
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)

_PLACEHOLDER = "\x1fquill-compiled-lookup\x1f"


class CompiledLookup(Generic[M]):
    """``lookup.get(value)``: the one row ``queryset_for(value)`` would return, or None.

    ``queryset_for`` must filter by the value alone and clear any default ordering
    (``.order_by()``); ``field`` is the model field the value is compared with, which
    prepares it for the database as the ORM would (a UUID, say), and ``placeholder`` a
    value of its type to compile with. A ``select_for_update()`` queryset compiles to its
    ``FOR UPDATE`` statement, and, as the ORM does, is refused outside a transaction.
    """

    def __init__(
        self, queryset_for: Callable[[Any], QuerySet[M]], *, field: Field | None = None, placeholder: Any = _PLACEHOLDER
    ) -> None:
        self.queryset_for = queryset_for
        self.field = field
        self.placeholder = placeholder
        self._compiled: dict[tuple[str, str], tuple[str, Any, list, bool]] = {}

    def orm(self, value: Any) -> M | None:
        """The same lookup through the ORM, uncompiled (the reference the tests compare with)."""
        return _get_or_none(self.queryset_for(value))

    def get(self, value: Any, *, using: str = "default") -> M | None:
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(using)
        sql, klass_info, select_and_converters, locks = compiled
        if locks and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        select, converters = select_and_converters
        parameter = self._prepared(value, connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [parameter])
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for position, (functions, expression) in converters.items():
            converted = values[position]
            for convert in functions:
                converted = convert(converted, expression, connection)
            values[position] = converted
        return _build(klass_info, select, values, using)

    def _prepared(self, value: Any, connection: Any) -> Any:
        if self.field is None:
            return value
        return self.field.get_db_prep_value(self.field.to_python(value), connection)

    def _compile(self, using: str) -> tuple[str, Any, list, bool]:
        query = self.queryset_for(self.placeholder).query
        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()  # a FOR UPDATE query is compiled only inside a transaction
        if list(params) != [self._prepared(self.placeholder, compiler.connection)]:
            raise ValueError("CompiledLookup needs a queryset whose only parameter is the looked-up value")
        if "ORDER BY" in sql:
            raise ValueError("CompiledLookup reads one row: clear the queryset's ordering with .order_by()")
        select = compiler.select
        converters = compiler.get_converters([expression for expression, _, _ in select])
        return sql, compiler.klass_info, [select, converters], bool(query.select_for_update)


def _get_or_none(queryset: QuerySet[M]) -> M | None:
    try:
        return queryset.get()
    except ObjectDoesNotExist:
        return None


def _build(klass_info: dict, select: list, values: list, using: str) -> Any:
    """One instance and its select_related instances from a row (as Django's RelatedPopulator does)."""
    model = klass_info["model"]
    positions = klass_info["select_fields"]
    attnames = [select[position][0].target.attname for position in positions]
    row = [values[position] for position in positions]
    if row[attnames.index(model._meta.pk.attname)] is None:  # an outer join that found nothing
        return None
    instance = model.from_db(using, attnames, row)
    for related_info in klass_info.get("related_klass_infos", []):
        related = _build(related_info, select, values, using)
        related_info["local_setter"](instance, related)
        related_info["remote_setter"](related, instance)
    return instance
