"""JSON bodies loaded through a marshmallow schema's own fields, without the schema machinery.

``Schema.load`` spends most of its time on bookkeeping (an error store, a closure per
field, hook lookups, unknown-field handling, a nested schema's whole ``load`` per
item): 60 us of CPU for a two-line invoice, and webargs' wrapping adds 40 more, where
the request's own work is a few hundred. :func:`precompile` walks a schema once into
a plain loader that runs each field's own conversion (``Field._deserialize``, the method
custom fields override) and validators, 24 us for that invoice, and the API's argument
parser uses it for the JSON bodies of schemas registered that way.

The loader only vouches for what it has checked: an unknown or missing key, a null,
a value of another type, any validation error makes it answer :data:`DEFER`, and the
parser then runs ``Schema.load`` as usual. So every error a client sees is
marshmallow's own, and a loaded body is always what ``Schema.load`` would return
(``tests/payments/test_fast_load.py`` checks that on generated bodies). Schemas with
hooks (``pre_load``, ``post_load``, ``validates``...) or options other than strict
(``unknown=RAISE``) cannot be precompiled.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from marshmallow import RAISE, Schema, ValidationError, fields
from marshmallow.utils import missing
from webargs.core import _UNKNOWN_DEFAULT_PARAM
from webargs.flaskparser import FlaskParser

#: a loader's answer for a body it does not vouch for: load it with marshmallow
DEFER: Any = object()

Loader = Callable[[Any], Any]
SchemaT = TypeVar("SchemaT", bound=Schema)

_LOADERS: weakref.WeakKeyDictionary[Schema, Loader] = weakref.WeakKeyDictionary()


def precompile(schema: SchemaT) -> SchemaT:
    """Register ``schema`` (an instance, shared by every request) for the fast path; return it.

    Raises TypeError if the schema uses something the loader cannot reproduce exactly.
    """
    _LOADERS[schema] = _compile(schema, unknown=None)
    return schema


def loader_for(schema: Schema) -> Loader | None:
    """Return the loader of a precompiled schema, else None."""
    return _LOADERS.get(schema)


def _compile(schema: Schema, *, unknown: str | None) -> Loader:
    _refuse_unless_plain(schema, unknown)
    steps = []
    for name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else name
        store = field.attribute or name
        if "." in store:
            raise TypeError(f"{type(schema).__name__}.{name}: dotted attributes are not supported")
        steps.append((key, store, _field_loader(field)))
    keys = frozenset(key for key, _, _ in steps)

    def load(data: Any) -> Any:
        if type(data) is not dict or not keys.issuperset(data):
            return DEFER
        loaded: dict[str, Any] = {}
        for key, store, load_field in steps:
            value = load_field(data.get(key, missing), key, data)
            if value is DEFER:
                return DEFER
            if value is not missing:
                loaded[store] = value
        return loaded

    return load


def _refuse_unless_plain(schema: Schema, unknown: str | None) -> None:
    cls = type(schema)
    hooks = [name for name in dir(cls) if hasattr(getattr(cls, name, None), "__marshmallow_hook__")]
    if hooks:
        raise TypeError(f"{cls.__name__} has hooks ({', '.join(hooks)}): it needs Schema.load")
    if (unknown or schema.unknown) != RAISE or schema.many or schema.partial:
        raise TypeError(f"{cls.__name__} must be strict (unknown=RAISE), not many, not partial")


FieldLoader = Callable[[Any, str | None, Any], Any]


def _field_loader(field: fields.Field) -> FieldLoader:
    """``(value, attr, document) -> loaded value | missing | DEFER``, as the schema loads the field."""
    if isinstance(field, fields.Nested):
        if field.many:
            raise TypeError("Nested(many=True) is not supported; use List(Nested(...))")
        return _nested_loader(field, _compile(field.schema, unknown=field.unknown))
    if isinstance(field, fields.List):
        return _list_loader(field, _field_loader(field.inner))

    def load_leaf(value: Any, attr: str | None, data: Any) -> Any:
        if value is missing:
            return _missing(field, data)  # the field raises if required, else gives its load_default
        if value is None:
            return DEFER
        try:  # what Field.deserialize does with a present value, less its checks for missing and None
            loaded = field._deserialize(value, attr, data)
        except ValidationError:
            return DEFER
        return _validated(field, loaded)

    return load_leaf


def _nested_loader(field: fields.Nested, load_inner: Loader) -> FieldLoader:
    def load_nested(value: Any, attr: str | None, data: Any) -> Any:
        if value is missing:
            return _missing(field, data)
        loaded = load_inner(value) if value is not None else DEFER
        return loaded if loaded is DEFER else _validated(field, loaded)

    return load_nested


def _list_loader(field: fields.List, load_item: FieldLoader) -> FieldLoader:
    def load_list(value: Any, attr: str | None, data: Any) -> Any:
        if value is missing:
            return _missing(field, data)
        if type(value) is not list:
            return DEFER
        loaded = [load_item(item, None, None) for item in value]  # as List does: no attr, no document
        return DEFER if any(item is DEFER for item in loaded) else _validated(field, loaded)

    return load_list


def _missing(field: fields.Field, data: Any) -> Any:
    try:
        return field.deserialize(missing, None, data)
    except ValidationError:
        return DEFER


def _validated(field: fields.Field, value: Any) -> Any:
    # As Field.deserialize ends: every validator, in order; any objection defers.
    try:
        for validator in field.validators:
            if validator(value) is False:
                return DEFER
    except ValidationError:
        return DEFER
    return value


class Parser(FlaskParser):
    """webargs' Flask parser, taking the fast path for precompiled schemas' JSON bodies."""

    def parse(self, argmap: Any, req: Any = None, **kwargs: Any) -> Any:
        load = loader_for(argmap) if isinstance(argmap, Schema) else None
        if load is not None and self._fast_path_applies(**kwargs):
            body = self.load_json(req if req is not None else self.get_default_request(), argmap)
            if body is not missing and (loaded := load(body)) is not DEFER:
                return loaded
        return super().parse(argmap, req, **kwargs)

    def _fast_path_applies(
        self,
        *,
        location: str | None = None,
        unknown: Any = _UNKNOWN_DEFAULT_PARAM,
        validate: Any = None,
        **_: Any,
    ) -> bool:
        # webargs' own defaults leave a JSON body's unknown fields to the schema (precompiled: RAISE).
        return (
            (location or self.location) == "json"
            and unknown in (_UNKNOWN_DEFAULT_PARAM, None, RAISE)
            and self.unknown in (_UNKNOWN_DEFAULT_PARAM, None, RAISE)
            and validate is None
        )


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, parsing arguments with :class:`Parser`."""

    ARGUMENTS_PARSER = Parser()
