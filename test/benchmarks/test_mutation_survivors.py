"""A survivor the fast tests cannot see is named as such only for the change that makes it so."""

import pytest

from benchmarks.mutation_score import UNSEEN, unseen_because


def diff(before: str, after: str) -> str:
    return f"@@ -1 +1 @@\n-{before}\n+{after}"


@pytest.mark.parametrize("before, after, reason", [
    # a checkpoint's device dropped: the same on the CPU
    ('data = torch.load(path, map_location=device, weights_only=True)',
     'data = torch.load(path, map_location=None, weights_only=True)', "device"),
    ('m = mask.to(p.device)', 'm = mask.to(None)', "device"),
    # mmap dropped, the rest of the call unchanged
    ('torch.load(path, map_location="cpu", mmap=True, weights_only=False)',
     'torch.load(path, map_location="cpu", mmap=False, weights_only=False)', "mmap"),
    ('handle = open(path, "a+", encoding="utf-8")',
     'handle = open(path, "a+", encoding="XXutf-8XX")', "encoding"),
    ("if self.total >= 2**32:", "if self.total >= 2**33:", "size"),
    ("if self.total >= 2**32:", "if self.total > 2**32:", "size"),  # tells only at 2^32
    ("def f(cap: float = 100.0):", "def f(cap: float = 101.0):", "cap_default"),
    ("if self.distributed and masks is not None:", "if self.distributed or masks is not None:",
     "ddp"),
])
def test_a_change_the_cpu_tests_cannot_see_is_named(before, after, reason):
    assert unseen_because(diff(before, after)) == reason
    assert reason in UNSEEN


@pytest.mark.parametrize("before, after", [
    # what is read changes, mmap stays: a survivor to read, not an unseen one
    ('torch.load(path, map_location="cpu", mmap=True, weights_only=False)',
     'torch.load(path, map_location="cpu", mmap=True, weights_only=True)'),
    # a line that writes with an encoding, changed elsewhere
    ('handle = open(path, "a+", encoding="utf-8")', 'handle = open(path, "XXa+XX", encoding="utf-8")'),
    ("factor = min(cap, 1.0 / density)", "factor = max(cap, 1.0 / density)"),
])
def test_any_other_change_is_left_to_read(before, after):
    assert unseen_because(diff(before, after)) is None


def test_a_survivor_is_explained_by_a_pattern_then_by_a_reader_else_left_to_read():
    from benchmarks.mutation_score import explained
    from benchmarks.reviewed_survivors import REASONS, REVIEWED

    assert set(REVIEWED.values()) <= set(REASONS)  # every reviewed survivor's reason is written
    name = next(iter(REVIEWED))
    plain = diff("factor = min(cap, 1.0 / density)", "factor = max(cap, 1.0 / density)")
    assert explained(name, plain) == {"harmless_because": REVIEWED[name]}
    # a pattern's reason first, even for a reviewed name
    moved = diff("m = mask.to(p.device)", "m = mask.to(None)")
    assert explained(name, moved) == {"unseen_because": "device"}
    assert explained("espnet_sniper.masks.x_not_reviewed__mutmut_1", plain) == {}
