"""The output directory's lock and the clean-up its holder does."""

import pytest

from espnet_sniper.run_lock import OutputDirInUse, lock_output_dir, remove_stale_temporaries


def test_a_second_holder_is_refused_until_the_first_lets_go(tmp_path):
    first = lock_output_dir(tmp_path)
    with pytest.raises(OutputDirInUse, match=r"in use by another training \(pid \d+ on "):
        lock_output_dir(tmp_path)
    first.close()
    lock_output_dir(tmp_path).close()


def test_the_holder_removes_temporaries_of_killed_writes_and_nothing_else(tmp_path):
    keep = ["checkpoint.pth", "1epoch.pth", "train.log", "sniper/state.pth", ".train.lock"]
    stale = [".checkpoint.prev.pth.tmp", "sniper/.state.pth.4242.tmp"]
    for name in keep + stale:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    remove_stale_temporaries(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) \
        == sorted(keep)
