"""Resuming after a kill during a save: which checkpoint a resume takes, what the writing
rank repairs, and what it leaves alone (the paths the CLI kill tests reach only by chance)."""

import argparse
import logging

import torch

from espnet_sniper import checkpoint_recovery as recovery


def _save(path, value):
    torch.save(value, path)
    return path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_checkpoint_with_objects_besides_tensors_is_readable(tmp_path):
    # ESPnet's checkpoint holds its reporter's and schedulers' states: more than tensors
    path = _save(tmp_path / "c.pth", {"model": {"w": torch.ones(3)},
                                      "reporter": argparse.Namespace(epoch=2)})
    assert recovery.readable(path)
    _truncate(path)
    assert not recovery.readable(path)
    assert not recovery.readable(tmp_path / "missing.pth")


def test_a_readable_checkpoint_is_taken_and_nothing_is_touched(tmp_path, caplog):
    checkpoint = _save(tmp_path / recovery.CHECKPOINT, {"epoch": 3})
    spare = _save(tmp_path / recovery.SPARE, {"epoch": 2})
    before = spare.read_bytes(), checkpoint.read_bytes()
    with caplog.at_level(logging.WARNING):
        assert recovery.resume_source(checkpoint, is_writer=True) == checkpoint
    assert (spare.read_bytes(), checkpoint.read_bytes()) == before and not caplog.records


def test_an_unreadable_checkpoint_is_replaced_by_the_spare_on_the_writer_only(tmp_path, caplog):
    checkpoint = _save(tmp_path / recovery.CHECKPOINT, {"epoch": 3})
    _truncate(checkpoint)
    damaged = checkpoint.read_bytes()
    spare = _save(tmp_path / recovery.SPARE, {"epoch": 2})
    with caplog.at_level(logging.WARNING):
        assert recovery.resume_source(checkpoint, is_writer=False) == spare
    assert checkpoint.read_bytes() == damaged  # another rank does not write
    assert str(checkpoint) in caplog.text and str(spare) in caplog.text
    assert recovery.resume_source(checkpoint, is_writer=True) == spare
    assert checkpoint.read_bytes() == spare.read_bytes()


def test_without_a_readable_checkpoint_or_spare_the_run_starts_over(tmp_path, caplog):
    checkpoint = _save(tmp_path / recovery.CHECKPOINT, {"epoch": 1})
    _truncate(checkpoint)
    with caplog.at_level(logging.WARNING):
        assert recovery.resume_source(checkpoint, is_writer=False) is None
    assert checkpoint.exists() and "starting from epoch 1" in caplog.text
    assert str(checkpoint) in caplog.text
    assert recovery.resume_source(checkpoint, is_writer=True) is None
    assert not checkpoint.exists()
    # killed before anything was saved: nothing to remove, no error
    assert recovery.resume_source(checkpoint, is_writer=True) is None


def test_only_an_unreadable_epoch_file_is_written_again(tmp_path, caplog):
    state = {"w": torch.arange(4.0)}
    good = _save(tmp_path / "2epoch.pth", {"w": torch.zeros(4)})
    kept = good.read_bytes()
    recovery.repair_epoch_file(tmp_path, 2, state)
    assert good.read_bytes() == kept  # readable: left as it is
    recovery.repair_epoch_file(tmp_path, 0, state)  # no epoch finished: nothing to repair
    assert not (tmp_path / "0epoch.pth").exists()

    _truncate(good)
    with caplog.at_level(logging.WARNING):
        recovery.repair_epoch_file(tmp_path, 2, state)
    assert torch.equal(torch.load(good)["w"], state["w"]) and str(good) in caplog.text
    assert (tmp_path / "latest.pth").resolve() == good.resolve()
