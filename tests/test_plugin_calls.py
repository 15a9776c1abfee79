"""The one rule for what ganforge adds to an architecture plugin's errors."""

import pytest
import torch

from ganforge.errors import GanforgeError, PluginError
from ganforge.interfaces import InvalidSpec, ModelSpec, UnsupportedImageShape
from ganforge.plugin_calls import build_networks, plugin_message, validate_spec

WHERE = "architecture plugin 'p' from dist 1.0"


@pytest.mark.parametrize("exc, message", [
    (InvalidSpec("patch=5 does not divide 28"), f"{WHERE}: patch=5 does not divide 28"),
    (UnsupportedImageShape("makes 32, not 28"), f"{WHERE}: makes 32, not 28 (set --image-size)"),
    (UnsupportedImageShape("makes 32, not 28; set --image-size 32"), f"{WHERE}: makes 32, not 28; set --image-size 32"),
    (UnsupportedImageShape("makes 32 (set --image-size)"), f"{WHERE}: makes 32 (set --image-size)"),
    (InvalidSpec("two\n  lines"), f"{WHERE}: two lines"),
    (ValueError("unknown activation 'tanh'"), f"{WHERE}: build_generator raised ValueError: unknown activation 'tanh'"),
    (KeyError("hidden"), f"{WHERE}: build_generator raised KeyError: 'hidden'"),
    (TypeError(), f"{WHERE}: build_generator raised TypeError"),
])
def test_plugin_message(exc, message):
    assert plugin_message(WHERE, exc, "build_generator") == message


class _Arch:
    def __init__(self, exc=None, where="validate"):
        self.exc, self.where = exc, where
        self.shapes = []

    def check_image_shape(self, shape):
        self.shapes.append(shape)

    def validate(self, spec):
        if self.where == "validate" and self.exc:
            raise self.exc
        self.check_image_shape(spec.image_shape)

    def build_generator(self, spec):
        if self.where == "build" and self.exc:
            raise self.exc
        return torch.nn.Identity()

    def build_discriminator(self, spec):
        return torch.nn.Flatten()


SPEC = ModelSpec((1, 28, 28), 8)


def test_errors_are_wrapped_once_with_the_original_as_cause():
    original = UnsupportedImageShape("no 28")
    with pytest.raises(InvalidSpec) as info:
        validate_spec(_Arch(original), SPEC, WHERE)
    assert str(info.value) == f"{WHERE}: no 28 (set --image-size)" and info.value.__cause__ is original
    with pytest.raises(PluginError) as info:
        build_networks(_Arch(ValueError("bad"), "build"), SPEC, WHERE)
    assert str(info.value) == f"{WHERE}: build_generator raised ValueError: bad"
    assert isinstance(info.value, GanforgeError)
    built = build_networks(_Arch(), SPEC, WHERE)
    assert list(built) == ["G", "D"] and isinstance(built["G"], torch.nn.Identity)


def test_default_validate_calls_check_image_shape_of_old_plugins():
    from ganforge.interfaces import Architecture

    seen = []

    class Old(Architecture):
        def check_image_shape(self, image_shape):
            seen.append(image_shape)

        def build_generator(self, spec):
            return None

        def build_discriminator(self, spec):
            return None

    Old().validate(SPEC)
    assert seen == [(1, 28, 28)]
