"""Parameter space: kinds, ranges (interface, sidecar, sp_*.json), dependency analysis, value parsing."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.bpy_programs import switch_program
from tests.fixtures.parity import requires_bpy
from tests.fixtures.reference import export_reference, requires_reference, sp_config
from translator.ir import ProgramError
from translator.params import (
    check_values,
    import_pytorchgeonodes_config,
    parameter_space,
    parse_assignments,
)


@requires_bpy
def test_dependencies_of_a_built_program():
    prog = switch_program()
    space = parameter_space(prog)
    by = {p.name: p for p in space}
    assert by["Width"].kind == "continuous" and (by["Width"].low, by["Width"].high) == (0.5, 2.0)
    assert by["Leg Style"].choices == (0, 1, 2)
    assert by["Unbounded"].low is None and by["Unbounded"].range_source == "default"
    assert by["Width"].active_when.always
    assert str(by["Leg Height"].active_when) == "Has Legs and Leg Style in {0, 1}"
    assert str(by["Spread"].active_when) == "Has Legs and Leg Style = 1"
    assert str(by["Leg Style"].active_when) == "Has Legs"
    assert by["Has Legs"].active_when.always
    active = {p.name for p in space.active({"Has Legs": True, "Leg Style": 1})}
    assert active == {"Width", "Has Legs", "Leg Height", "Leg Style", "Spread", "Unbounded"}
    active = {p.name for p in space.active({"Has Legs": False, "Leg Style": 1})}
    assert active == {"Width", "Has Legs", "Unbounded"}


@requires_bpy
def test_sidecar_ranges_and_errors(tmp_path):
    prog = switch_program()
    side = tmp_path / "p.params.json"
    side.write_text(json.dumps({"parameters": {"Unbounded": {"range": [-1, 1]}, "Leg Style": {"range": [0, 1]}}}))
    space = parameter_space(prog, side)
    assert (space["Unbounded"].low, space["Unbounded"].high, space["Unbounded"].range_source) == (-1.0, 1.0, "sidecar")
    assert space["Leg Style"].choices == (0, 1)
    side.write_text(json.dumps({"parameters": {"Nope": {"range": [0, 1]}}}))
    with pytest.raises(ProgramError, match="no parameter named 'Nope'"):
        parameter_space(prog, side)
    side.write_text("{not json")
    with pytest.raises(ProgramError, match="the parameter ranges file is not valid JSON"):
        parameter_space(prog, side)
    bad = {
        '{"parameters": {"Unbounded": {"range": [NaN, 1]}}}': "NaN is not a number",
        '{"parameters": {"Unbounded": {"range": [2, 1]}}}': "parameters.Unbounded.range: low 2 is above high 1",
        '{"parameters": {"Unbounded": {"rnage": [0, 1]}}}': "parameters.Unbounded.rnage: Extra inputs are not permitted",
        '{"parameters": {"Unbounded": {"range": [0, 1e999]}}}': "parameters.Unbounded.range: must be [low, high] (finite numbers, or two lists of 3 for a vector), got [0, Infinity]",
        '{"parameters": {"Leg Style": {"choices": []}}}': "parameters.Leg Style.choices: List should have at least 1 item",
        '{"parameters": []}': "parameters: Input should be a valid dictionary",
    }
    for text, words in bad.items():
        side.write_text(text)
        with pytest.raises(ProgramError) as err:
            parameter_space(prog, side)
        assert str(err.value).startswith(f"{side}: ") and words in str(err.value) and "\n" not in str(err.value), text
    side.write_bytes(bytes(range(256)))
    with pytest.raises(ProgramError, match="not a text file"):
        parameter_space(prog, side)


@requires_reference
def test_sp_config_import_flattens_and_reads_misspelt_dependencies():
    cfg = import_pytorchgeonodes_config(sp_config("bed"))
    assert cfg["Back Thickness"]["depends"] == ["Has Back"]  # spelt `or_dependcies` in that file
    assert cfg["Width"]["range"] == [0.9, 2.4]
    table = import_pytorchgeonodes_config(sp_config("table"))
    assert table["Mid Leg X Scale"]["depends"] == [["Legs Type", 0]]


@requires_bpy
@requires_reference
@pytest.mark.parametrize("name", ["table", "bed", "cabinet"])
def test_reference_dependencies_agree_with_the_papers_configs(name):
    """Every dependency the reference configs state is implied by the graph analysis."""
    prog = export_reference(name)
    space = parameter_space(prog, sp_config(name))
    cfg = import_pytorchgeonodes_config(sp_config(name))
    for pname, spec in cfg.items():
        p = space[pname]
        for dep in spec.get("depends", []):
            var, val = (dep, True) if isinstance(dep, str) else dep
            # under the stated condition the parameter is active for some assignment of the others
            assert var in p.active_when.variables, f"{pname}: expected to depend on {var}, got {p.active_when}"
            idx = p.active_when.variables.index(var)
            assert any(t[idx] == val for t in p.active_when.allowed), f"{pname}: {p.active_when}"
    if name == "table":
        assert str(space["Mid Board Z Scale"].active_when) == "Legs Type = 2 and Has Mid Board"
        assert str(space["Has Mid Board"].active_when) == "Legs Type = 2"
    if name == "bed":
        assert str(space["Back Thickness"].active_when) == "Has Back"


@requires_bpy
def test_parse_and_check_values():
    space = parameter_space(switch_program())
    assert parse_assignments(space, ["Width=1.5", "Has Legs=false", "Leg Style=2"]) == {
        "Width": 1.5, "Has Legs": False, "Leg Style": 2}
    with pytest.raises(ProgramError, match="unknown parameter 'Wdth'"):
        parse_assignments(space, ["Wdth=1"])
    with pytest.raises(ProgramError, match="cannot read 'x' as a number"):
        parse_assignments(space, ["Width=x"])
    with pytest.raises(ProgramError, match="expected NAME=VALUE"):
        parse_assignments(space, ["Width"])
    assert check_values(space, {"Leg Style": 1.0, "Has Legs": 1}) == {"Leg Style": 1, "Has Legs": True}
    with pytest.raises(ProgramError, match="item 3: parameter 'Leg Style'"):
        check_values(space, {"Leg Style": "two"}, where="item 3")
