"""Which of mutmut's mutants only reword a text a person reads.

mutmut rewrites every string literal it meets three ways: wrapped in ``XX``, upper-cased,
lower-cased. Inside a help text, a log line or an error message that changes the wording
and nothing a program or a test could rely on: the message still names the same key, file
and remedy, in other letters. Such a mutant is *prose*: the mutation benchmark reports it
apart and leaves it out of the score, since no test of behaviour can (or should) kill it.
Everything else, a key read with ``getattr``, an option's name, a dict key, a message
replaced by ``None``, is behaviour and counts.

A mutant is prose when its function's syntax tree is the original's but for string
constants that are such a rewording, each inside a help keyword, a logging call or an
error's construction.
"""

import ast
from pathlib import Path
from typing import Dict, Iterator, Optional, Set

# calls whose string arguments are read by people: logging (info, warning, ...), argparse's
# error, sys.exit, print and the package's own error helpers; any *Error or *Exception class
MESSAGE_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "warn", "log",
                 "print", "exit", "_fail"}


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(
        func, ast.Attribute) else ""


def _is_message_context(node: ast.AST, parents: Dict[ast.AST, ast.AST]) -> bool:
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.keyword) and parent.arg == "help":
            return True
        if isinstance(parent, ast.Call) and child is not parent.func:
            name = _called_name(parent)
            if name in MESSAGE_CALLS or name.endswith(("Error", "Exception")):
                return True
        child, parent = parent, parents.get(parent)
    return False


def _rewording(original: object, mutant: object) -> bool:
    # an implicitly concatenated literal is one constant: mutmut rewrites one of its parts
    def letters(text: str) -> str:
        return text.replace("XX", "").lower()

    return isinstance(original, str) and isinstance(mutant, str) and \
        letters(original) == letters(mutant)


def _scalar_fields(node: ast.AST, skipped: tuple) -> Iterator[object]:
    """What a node is beyond its children: names, operators, list lengths."""
    for name in node._fields:
        value = getattr(node, name)
        if name in skipped:
            continue
        if isinstance(value, list):
            yield len(value)
        elif not isinstance(value, ast.AST):
            yield value
        elif not isinstance(value, ast.expr):
            yield type(value).__name__  # operators and contexts


def is_prose(original: ast.FunctionDef, mutant: ast.FunctionDef) -> bool:
    parents = {child: node for node in ast.walk(original) for child in ast.iter_child_nodes(node)}
    a_nodes, b_nodes = list(ast.walk(original)), list(ast.walk(mutant))
    if len(a_nodes) != len(b_nodes):
        return False
    reworded = 0
    for a, b in zip(a_nodes, b_nodes):
        # mutmut renames the function itself; a constant's value is compared below
        skipped = ("name",) if a is original else ("value",) if isinstance(a, ast.Constant) else ()
        if type(a) is not type(b) or \
                list(_scalar_fields(a, skipped)) != list(_scalar_fields(b, skipped)):
            return False
        if isinstance(a, ast.Constant) and a.value != b.value:
            if not (_rewording(a.value, b.value) and _is_message_context(a, parents)):
                return False
            reworded += 1
    return reworded > 0


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name:
            yield node


def prose_mutants(mutated_module: Path, dotted: str) -> Set[str]:
    """The prose mutants (mutmut's names, ``<dotted>.<function>__mutmut_<n>``) of the file
    mutmut wrote for a module (``mutants/espnet_sniper/<module>.py``)."""
    tree = ast.parse(mutated_module.read_text())
    originals: Dict[str, ast.FunctionDef] = {}
    mutants: Dict[str, ast.FunctionDef] = {}
    for fn in _functions(tree):
        stem, _, number = fn.name.rpartition("__mutmut_")
        (originals if number == "orig" else mutants)[fn.name] = fn
    found = set()
    for name, fn in mutants.items():
        original: Optional[ast.FunctionDef] = originals.get(name.rpartition("__mutmut_")[0]
                                                            + "__mutmut_orig")
        if original is not None and is_prose(original, fn):
            found.add(f"{dotted}.{name}")
    return found
