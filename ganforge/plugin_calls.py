"""Calls into an architecture plugin, with the one rule for what ganforge adds to its errors.

Whatever a plugin raises from ``validate``, ``build_networks`` (``build_generator``, ``build_discriminator``)
reaches the user once, as one line:

* ``InvalidSpec`` (and its subclass ``UnsupportedImageShape``)::

      <where>: <the plugin's message>[ (<hint>)]

  The hint is the exception class's ``hint`` ("set --image-size" for an image shape),
  added only when the message does not already mention it.
* any other exception (a ValueError for a bad option value, a TypeError, ...)::

      <where>: <method> raised <ExceptionType>: <its message>

``<where>`` is ``architecture plugin 'NAME' from DIST VERSION``. Line breaks in a message
become spaces. The original exception stays the ``__cause__`` (``GANFORGE_DEBUG=1`` shows it).
Imports no torch.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import PluginError
from .interfaces import Architecture, InvalidSpec, ModelSpec


def plugin_message(where: str, exc: BaseException, method: str) -> str:
    """The message the user sees for ``exc`` raised by the plugin's ``method``."""
    text = " ".join(str(exc).split())
    if isinstance(exc, InvalidSpec):
        hint = type(exc).hint
        if hint and not _mentions(text, hint):
            text += f" ({hint})"
        return f"{where}: {text or type(exc).__name__}"
    return f"{where}: {method} raised {type(exc).__name__}" + (f": {text}" if text else "")


def plugin_error(where: str, exc: BaseException, method: str) -> PluginError | InvalidSpec:
    error = InvalidSpec(plugin_message(where, exc, method)) if isinstance(exc, InvalidSpec) else \
        PluginError(plugin_message(where, exc, method))
    error.__cause__ = exc
    return error


def call_plugin(where: str, method: str, function, *args: Any) -> Any:
    """``function(*args)``, with any exception turned into one wrapped error."""
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - the plugin's failure, reported once with its name
        raise plugin_error(where, exc, method) from exc


def validate_spec(architecture: Any, spec: ModelSpec, where: str) -> None:
    """Run the architecture's ``validate`` hook (by default its image-shape check)."""
    call_plugin(where, "validate", architecture.validate, spec)


def build_networks(architecture: Any, spec: ModelSpec, where: str) -> dict[str, Any]:
    """The networks built by the plugin, by name (exactly its declared ``networks``); errors wrapped
    by the one rule."""
    if _default_builder(architecture):  # G and D, each named in errors
        built = {"G": call_plugin(where, "build_generator", architecture.build_generator, spec),
                 "D": call_plugin(where, "build_discriminator", architecture.build_discriminator, spec)}
    else:
        built = call_plugin(where, "build_networks", architecture.build_networks, spec)
    names = tuple(getattr(architecture, "networks", Architecture.networks))
    if not isinstance(built, dict) or set(built) != set(names):
        got = ", ".join(map(str, built)) if isinstance(built, dict) else type(built).__name__
        raise PluginError(f"{where}: build_networks must return a dict of the networks {', '.join(names)}, got {got}")
    for name, network in built.items():
        if not callable(getattr(network, "parameters", None)):
            raise PluginError(f"{where}: build_networks returned {type(network).__name__} for '{name}', not a torch module")
    return {name: built[name] for name in names}


def build_generator(architecture: Any, spec: ModelSpec, where: str, name: str = "G"):
    """The generator ``name`` alone: through ``build_generator`` where the plugin builds G and D the
    default way, else the one network of ``build_networks``."""
    if _default_builder(architecture) and name == "G":
        return call_plugin(where, "build_generator", architecture.build_generator, spec)
    return build_networks(architecture, spec, where)[name]


def _default_builder(architecture: Any) -> bool:
    """True when the plugin builds G and D with ``build_generator`` / ``build_discriminator``."""
    return getattr(type(architecture), "build_networks", Architecture.build_networks) is Architecture.build_networks


def _mentions(message: str, hint: str) -> bool:
    """True when ``message`` already gives the hint: its text, or every flag it names."""
    if hint in message:
        return True
    flags = re.findall(r"--[a-z][a-z-]*", hint)
    return bool(flags) and all(flag in message for flag in flags)
