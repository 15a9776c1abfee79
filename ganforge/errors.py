"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2
(``GANFORGE_DEBUG=1``: with the traceback instead)."""

from .words import env_switch

DEBUG_ENV = "GANFORGE_DEBUG"


def debug_enabled() -> bool:
    return env_switch(DEBUG_ENV)


class GanforgeError(Exception):
    """A mistake in the user's input or environment, reported without a traceback."""


class InvalidOptionError(GanforgeError):
    """An architecture option value the architecture does not accept (unknown key, wrong type,
    not among the choices, outside the range)."""


class PluginError(GanforgeError):
    """A plugin could not be found, loaded or validated."""


class UnknownPluginError(PluginError):
    pass


class FailedToLoadPlugin(PluginError):
    """A plugin's import raised; keeps the distribution, version and original exception."""

    def __init__(self, plugin_name: str, kind: str, distribution: str, version: str, original: BaseException):
        self.plugin_name = plugin_name
        self.kind = kind
        self.distribution = distribution
        self.version = version
        self.original = original
        super().__init__(
            f"{kind} plugin '{plugin_name}' from {distribution} {version} failed to load: "
            f"{type(original).__name__}: {original}"
        )


class InvalidPluginError(PluginError):
    """A plugin loaded but does not satisfy the interface it claims."""


class PluginClashError(PluginError):
    """Two third-party distributions register the same name in the same group."""
