"""benchmarks/gpu_check.sh, the GPU measurements in one go, refuses clearly without a GPU."""

import subprocess

import pytest
import torch

from conftest import REPO


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the check would run")
def test_gpu_check_refuses_without_cuda_before_any_work(tmp_path):
    out = tmp_path / "gpu"
    done = subprocess.run([str(REPO / "benchmarks" / "gpu_check.sh"), "--out_dir", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "no CUDA GPU is visible to torch" in done.stderr
    assert not out.exists()
