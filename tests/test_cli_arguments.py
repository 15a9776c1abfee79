"""Valued options of ``ganforge train`` without their value (issue 21): one line naming the
option, and ``--compile`` alone meaning ``networks``."""

from __future__ import annotations

import inspect

import pytest
from typer.testing import CliRunner

from ganforge.cli import train as train_cli
from ganforge.cli.app import app
from ganforge.cli.arguments import ValuedOption, by_flag, fill_values
from ganforge.errors import GanforgeError

OPTIONS = by_flag([ValuedOption(("--compile",), ("none", "networks"), bare="networks"),
                   ValuedOption(("--precision",), ("fp32", "bf16")),
                   ValuedOption(("--arch-option", "-O"), hint="KEY=VALUE."),
                   ValuedOption(("--seed",), hint="A seed.")])


@pytest.mark.parametrize("args, filled", [
    (["dcgan", "--compile", "--steps", "2"], ["dcgan", "--compile", "networks", "--steps", "2"]),
    (["dcgan", "--compile"], ["dcgan", "--compile", "networks"]),
    (["--compile", "-O", "ngf=4"], ["--compile", "networks", "-O", "ngf=4"]),
    (["--compile", "none", "--precision", "bf16"], ["--compile", "none", "--precision", "bf16"]),
    (["--compile=none", "--seed", "-1"], ["--compile=none", "--seed", "-1"]),  # a negative number is a value
    (["--", "--precision"], ["--", "--precision"]),  # after --, nothing is an option
    (["--seed", "--precision"], None),
    (["--precision"], None),
])
def test_fill_values(args, filled):
    if filled is None:
        with pytest.raises(GanforgeError, match=r"needs"):
            fill_values(args, OPTIONS)
    else:
        assert fill_values(args, OPTIONS) == filled


def test_missing_value_names_the_option_as_typed_and_what_it_takes():
    with pytest.raises(GanforgeError, match=r"^`-O` needs a value: KEY=VALUE$"):
        fill_values(["-O", "--seed", "1"], OPTIONS)
    with pytest.raises(GanforgeError, match=r"^`--precision` needs one of fp32, bf16$"):
        fill_values(["--precision", "-h"], OPTIONS)


def test_every_valued_train_flag_is_checked():
    """The table covers every flag of ``ganforge train`` that takes a value (not the switches)."""
    valued, switches = set(), set()
    for parameter in inspect.signature(train_cli.train).parameters.values():
        decls = getattr(parameter.default, "param_decls", None)
        if not decls:
            continue  # the architecture argument
        names = [flag for decl in decls for flag in decl.split("/")]
        (switches if any(flag.startswith("--no-") for flag in names) else valued).update(names)
    assert valued == set(train_cli.VALUED_FLAGS)
    assert "--compile" in valued and "--channels-last" in switches and not switches & valued
    assert train_cli.VALUED_FLAGS["--compile"].bare == "networks"


@pytest.mark.parametrize("args", [["--compile", "--steps", "2"], ["--steps", "2", "--compile"]])
def test_compile_alone_means_networks(monkeypatch, tmp_path, args):
    from ganforge import api

    seen = {}
    monkeypatch.setattr(api, "train", lambda arch, config_file=None, **given: seen.update(given) or tmp_path)
    result = CliRunner().invoke(app, ["train", "gan", *args])
    assert result.exit_code == 0, result.output
    assert seen["compile"] == "networks" and seen["steps"] == 2
