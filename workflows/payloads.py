"""The data converter of every Temporal client in the project: the default JSON
wire format, decoded faster.

Temporal's default converter resolves a dataclass's type hints every time it
decodes one. The domain modules use ``from __future__ import annotations``, so
each resolution compiles and evaluates every field's annotation string: about
0.5 ms to decode one ``SettleRequest``, which a session pays several times (its
input, its stop, the settlement's request and result) in the worker and again in
the gateway's relay. This converter resolves each class's hints once.

The payloads are byte for byte those of the default converter (only decoding
changes), so clients with either converter interoperate and recorded histories
replay unchanged. ``tests/workflows/test_payloads.py`` checks that every domain
type decodes as the default converter decodes it.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)


class _CachedDataclasses(JSONTypeConverter):
    """Decodes dataclasses as the default converter does, with their hints cached."""

    def __init__(self) -> None:
        self._hints: dict[type, tuple[tuple[str, Any, bool], ...]] = {}
        self._converters: list[JSONTypeConverter] = [self]

    def _fields(self, hint: type) -> tuple[tuple[str, Any, bool], ...]:
        fields = self._hints.get(hint)
        if fields is None:
            hints = typing.get_type_hints(hint)
            fields = tuple((f.name, hints[f.name], f.init) for f in dataclasses.fields(hint))
            self._hints[hint] = fields
        return fields

    def to_typed_value(self, hint: type, value: Any) -> Any:
        """The dataclass ``hint`` from its JSON ``value``; anything else is left to
        the default rules (which call back here for nested dataclasses)."""
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            raise TypeError(f"Cannot convert to dataclass {hint}, value is {type(value)} not dict")
        # As the default: unknown keys are ignored, a missing required field fails in
        # the constructor (so a union tries its next member), init=False fields are
        # restored after construction.
        init: dict[str, Any] = {}
        later: dict[str, Any] = {}
        for name, field_hint, in_init in self._fields(hint):
            if name not in value:
                continue
            try:
                converted = value_to_type(field_hint, value[name], self._converters)
            except Exception as err:
                raise TypeError(f"Failed converting field {name} on dataclass {hint}") from err
            (init if in_init else later)[name] = converted
        obj = hint(**init)
        for name, converted in later.items():
            object.__setattr__(obj, name, converted)
        return obj


class CsmsPayloadConverter(CompositePayloadConverter):
    """The default encodings, with the JSON one decoding dataclasses from cached hints."""

    def __init__(self) -> None:
        super().__init__(
            *(
                JSONPlainPayloadConverter(custom_type_converters=[_CachedDataclasses()])
                if isinstance(converter, JSONPlainPayloadConverter)
                else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = dataclasses.replace(
    DataConverter.default, payload_converter_class=CsmsPayloadConverter
)
"""What every client of the project connects with (the worker's too)."""
