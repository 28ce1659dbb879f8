"""The precompiled loader returns exactly what ``Schema.load`` returns, or defers to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import EXCLUDE, Schema, fields, post_load, validate

from payments import fast_load
from payments.schemas import MAX_AMOUNT, InvoiceCreateSchema
from tests.factories import invoice_body

SCHEMA = InvoiceCreateSchema()
LOAD = fast_load._compile(SCHEMA, unknown=None)

# Anything JSON can carry, for the wrong-type cases.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)


def clean(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=min_size, max_size=max_size)


def near(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    # Lengths just past the bounds, and now and then a control character or a lone surrogate.
    return st.text(min_size=max(0, min_size - 1), max_size=max_size + 1)


class Values:
    """Valid values only, or (``wrong``) also values near the edge and of any JSON type."""

    def __init__(self, wrong: bool) -> None:
        self.wrong = wrong

    def __call__(self, valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        # One value in ten is wrong, so that a document often has just one thing wrong, or
        # nothing (the high draws: Hypothesis favours low ones).
        if not self.wrong:
            return valid
        return st.integers(0, 19).flatmap(lambda n: edge if n == 19 else json_values if n == 18 else valid)

    def document(self, required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
        documents = st.fixed_dictionaries(required, optional=optional)
        if not self.wrong:
            return documents

        # One in twenty lacks a required key, one in twenty has one the schema does not know.
        def mutated(drawn: tuple[dict[str, Any], int, str, Any]) -> dict[str, Any]:
            document, roll, key, extra = drawn
            if roll == 19:
                return {k: v for k, v in document.items() if k != key}
            if roll == 18:
                return {**document, "surprise": extra}
            return document

        drop_one = st.sampled_from(sorted(required) or ["-"])
        return st.tuples(documents, st.integers(0, 19), drop_one, json_values).map(mutated)


def code(digits: int) -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A[0-9]{{{digits - 1},{digits + 1}}}\n?\Z") | near(0, 5)


def item(value: Values) -> st.SearchStrategy[dict[str, Any]]:
    fields_ = {
        "fee_code": value(clean(1, 32), near(1, 32)),
        "description": value(clean(1, 255), near(1, 255)),
        "amount": value(st.integers(1, MAX_AMOUNT // 60), st.integers(-2, MAX_AMOUNT + 2)),
        "chapter_code": value(st.from_regex(r"\A[0-9]{3}\Z"), code(3)),
        "sub_item_code": value(st.from_regex(r"\A[0-9]{4}\Z"), code(4)),
    }
    return value.document(fields_, {})


def body(wrong: bool) -> st.SearchStrategy[dict[str, Any]]:
    value = Values(wrong)
    aware = st.datetimes(min_value=datetime(2029, 1, 1), max_value=datetime(2031, 1, 1)).map(
        lambda moment: moment.replace(tzinfo=UTC).isoformat()
    )
    payer = value.document(
        {},
        {
            "name": value(clean(1, 64), near(1, 255)),
            "id_number": value(st.from_regex(r"\A[0-9A-Za-z]{6,20}\Z"), near(5, 21)),
            "phone": value(st.from_regex(r"\A\+?[0-9]{8,20}\Z"), near(7, 21)),
            "email": value(st.emails().filter(lambda e: len(e) <= 255), near(1, 20)),
        },
    )
    few_keys = st.dictionaries(clean(1, 64), clean(0, 64), max_size=3)
    metadata = value(
        few_keys | st.dictionaries(clean(1, 4), clean(0, 2), min_size=20, max_size=20),
        st.dictionaries(near(1, 255), near(0, 255), max_size=2)
        | st.dictionaries(clean(1, 4), st.just(""), min_size=21, max_size=21),
    )
    items = value(
        st.lists(item(value), min_size=1, max_size=3),
        st.lists(item(value), max_size=2) | st.lists(item(Values(False)), min_size=50, max_size=51),
    )
    return value.document(
        {
            "reference": value(clean(1, 64), near(1, 64)),
            "description": value(clean(1, 255), near(1, 255)),
            "items": items,
            "return_url": value(clean(1, 64), near(1, 2048)),
        },
        {
            "language": value(st.sampled_from(["vi", "en"]), st.sampled_from(["fr", "", "VI"])),
            "payer": payer,
            "metadata": metadata,
            "expires_at": value(
                aware, st.sampled_from(["2030-01-01T00:00:00", "tomorrow", "2030-02-30T00:00Z"])
            ),
        },
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(document=body(wrong=False))
def test_a_valid_body_takes_the_fast_path_and_loads_as_marshmallow_loads_it(document):
    loaded = LOAD(document)

    if document["items"] and sum(i["amount"] for i in document["items"]) <= MAX_AMOUNT:
        assert loaded is not fast_load.DEFER
    if loaded is not fast_load.DEFER:
        assert loaded == SCHEMA.load(document)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(document=body(wrong=True))
def test_any_body_loads_as_marshmallow_loads_it_or_is_left_to_marshmallow(document):
    loaded = LOAD(document)

    if loaded is not fast_load.DEFER:
        assert loaded == SCHEMA.load(document)  # and marshmallow accepts it: no ValidationError


@pytest.mark.parametrize(
    "change",
    [
        {"items": []},
        {"items": [{**invoice_body()["items"][0], "amount": MAX_AMOUNT}] * 2},  # total too large
        {"items": [{**invoice_body()["items"][0], "chapter_code": "41"}]},
        {"reference": None},
        {"payer": {"email": "not-an-email"}},
        {"metadata": {f"k{n}": "v" for n in range(21)}},
        {"surprise": 1},
        {"description": "a bell \x07 is a control character"},
        {"expires_at": "2030-01-01T00:00:00"},  # not aware
    ],
)
def test_bodies_marshmallow_refuses_are_left_to_it(change):
    assert LOAD({**invoice_body(), **change}) is fast_load.DEFER


def test_defaults_are_filled_in_as_marshmallow_fills_them():
    document = {key: value for key, value in invoice_body().items() if key not in ("payer", "metadata")}

    assert LOAD(document) == SCHEMA.load(document)
    assert LOAD(document)["language"] == "vi" and LOAD(document)["payer"] == {}


class WithHook(Schema):
    class Meta:
        unknown = "raise"

    name = fields.String()

    @post_load
    def _made(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return data


class Lenient(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(validate=validate.Length(1, 5))


@pytest.mark.parametrize("schema", [WithHook(), Lenient(), InvoiceCreateSchema(many=True)])
def test_schemas_it_cannot_reproduce_are_refused_at_start_up(schema):
    with pytest.raises(TypeError):
        fast_load.precompile(schema)


def test_the_api_loads_a_valid_invoice_without_schema_load_and_a_bad_one_with_it(client, agency, monkeypatch):
    loads: list[Any] = []
    original = Schema.load
    monkeypatch.setattr(Schema, "load", lambda self, *a, **kw: loads.append(self) or original(self, *a, **kw))
    valid = invoice_body(return_url=f"{agency.origin}/ket-qua")

    created = client.post("/api/v1/invoices", json=valid, headers=agency.headers)
    loads_for_valid = len(loads)
    refused = client.post("/api/v1/invoices", json={**valid, "surprise": 1}, headers=agency.headers)

    assert created.status_code == 201 and created.get_json()["reference"] == valid["reference"]
    assert loads_for_valid == 0
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == [{"field": "surprise", "message": "Unknown field."}]
    assert type(loads[0]) is InvoiceCreateSchema
