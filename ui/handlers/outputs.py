"""Named handler results and the one place they become Gradio outputs.

A handler with several outputs returns a frozen dataclass deriving from :class:`NamedOutputs`;
its fields, in order, are the event's outputs. The tab wires the components by the same names
(:meth:`NamedOutputs.components`), and :func:`for_gradio` turns the result into the tuple
Gradio expects, so neither side depends on a position.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import fields
from typing import Any, Callable, Optional


class NamedOutputs:
    """Base of handler results (frozen dataclasses): one field per output, in output order."""

    def gradio_values(self) -> Any:
        """The field values in field order: what Gradio gets for the outputs. A result with
        one field gives its value alone: Gradio assigns whatever a one-output event returns
        to that output, so a 1-tuple would become the value."""
        values = tuple(getattr(self, item.name) for item in fields(self))
        return values[0] if len(values) == 1 else values

    @classmethod
    def output_names(cls) -> tuple[str, ...]:
        return tuple(item.name for item in fields(cls))

    @classmethod
    def components(cls, **by_name: Any) -> list:
        """The output components in field order, given by field name.

        Raises:
            TypeError: a field without a component or a component without a field.
        """
        names = cls.output_names()
        if set(by_name) != set(names):
            raise TypeError(
                f"{cls.__name__} outputs are {', '.join(names)}; got {', '.join(sorted(by_name))}"
            )
        return [by_name[name] for name in names]


def bind_studio(fn: Callable, studio: Any) -> Callable:
    """``fn(studio, *args)`` as ``bound(*args)``, with ``fn``'s signature less its first parameter.

    Gradio reads the signature (parameter names become the API's; ``gr.Request`` and
    ``gr.Progress`` parameters are filled in by type and default) and the type hints, which
    ``functools.partial`` would hide.
    """
    signature = inspect.signature(fn)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].name != "studio":
        raise TypeError(f"{fn.__name__} does not take a studio first")

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return fn(studio, *args, **kwargs)

    bound.__signature__ = signature.replace(parameters=parameters[1:])
    return bound


def gradio_values(fn: Callable) -> Callable:
    """``fn`` returning its :class:`NamedOutputs` as the tuple of outputs (a single output's bare
    value; other results as is)."""

    @functools.wraps(fn)
    def event(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        return result.gradio_values() if isinstance(result, NamedOutputs) else result

    return event


def for_gradio(fn: Callable, studio: Optional[Any] = None) -> Callable:
    """``fn`` ready for a Gradio event: ``studio`` bound when given, named results as tuples."""
    return gradio_values(bind_studio(fn, studio) if studio is not None else fn)
