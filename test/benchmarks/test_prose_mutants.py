"""The mutation benchmark leaves out only the mutants that reword a text a person reads."""

import ast

import pytest

from benchmarks.core.prose_mutants import is_prose, prose_mutants

ORIGINAL = '''
def f(args, parser):
    parser.add_argument("--save_epochs", type=int, help="Epochs kept " "whatever happens.")
    value = getattr(args, "save_epochs", None)
    if value < 1:
        logging.info(f"kept {value} models")
        raise ValueError("save_epochs: not an epoch")
    return {"forward_generator": True}
'''


def function(source: str) -> ast.FunctionDef:
    return ast.parse(source).body[0]


@pytest.mark.parametrize("original, mutant, prose", [
    ('"Epochs kept " "whatever happens."', '"XXEpochs kept XX" "whatever happens."', True),
    ('"Epochs kept "', '"EPOCHS KEPT "', True),
    ('f"kept {value} models"', 'f"XXkept XX{value} models"', True),
    ('"save_epochs: not an epoch"', '"SAVE_EPOCHS: NOT AN EPOCH"', True),
    # behaviour: a key read, an option's name, a dict key, a message dropped, an operator
    ('getattr(args, "save_epochs"', 'getattr(args, "XXsave_epochsXX"', False),
    ('"--save_epochs"', '"--SAVE_EPOCHS"', False),
    ('"forward_generator"', '"FORWARD_GENERATOR"', False),
    ('ValueError("save_epochs: not an epoch")', 'ValueError(None)', False),
    ("value < 1", "value <= 1", False),
    ("type=int", "type=None", False),
])
def test_only_reworded_texts_are_prose(original, mutant, prose):
    assert ORIGINAL.count(original) == 1
    assert is_prose(function(ORIGINAL), function(ORIGINAL.replace(original, mutant))) is prose


def test_an_unchanged_function_is_not_prose():
    assert not is_prose(function(ORIGINAL), function(ORIGINAL))


def test_mutants_are_found_by_mutmuts_names(tmp_path):
    renamed = {name: ORIGINAL.replace("def f(", f"def x_f__mutmut_{name}(") for name in
               ("orig", "1", "2")}
    renamed["1"] = renamed["1"].replace('"Epochs kept "', '"epochs kept "')
    renamed["2"] = renamed["2"].replace("value < 1", "value > 1")
    module = tmp_path / "m.py"
    module.write_text("\n".join(renamed.values()))
    assert prose_mutants(module, "pkg.m") == {"pkg.m.x_f__mutmut_1"}
