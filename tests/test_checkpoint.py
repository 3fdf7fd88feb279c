"""Checkpoint format and `load_model` over every kind of model spec, with bad inputs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from edgemobilenet.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from edgemobilenet.cli import main
from edgemobilenet.data import open_dataset
from edgemobilenet.errors import EdgembError
from edgemobilenet.models import build
from edgemobilenet.models.loader import DEFAULT_MODEL, load_model
from edgemobilenet.train import evaluate

OPTS = {"width": 0.25, "resolution": 64, "num_classes": 5, "in_channels": 1,
        "width_rule": "paper"}
PRE = {"mean": [0.3], "std": [0.4], "resize": 64, "crop": 64}


def _write(path: Path, arch: str = "mobilenet_v3_small", half: bool = False) -> torch.nn.Module:
    model = build(arch, **OPTS).eval()
    for b in model.buffers():
        if b.is_floating_point():
            b.uniform_(0.5, 1.5)  # distinguishable from a fresh model's running stats
    save_checkpoint(make_checkpoint(arch, OPTS, PRE, model.state_dict(), epoch=3,
                                    val_top1=55.5, dataset="somewhere"), path, half=half)
    return model


def test_format_is_plain_weights_only(tmp_path):
    _write(tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["format"] == "edgemb-checkpoint" and raw["version"] == 1
    assert raw["arch"] == "mobilenet_v3_small"
    assert raw["options"] == OPTS
    assert raw["preprocess"] == PRE and raw["epoch"] == 3 and raw["val_top1"] == 55.5
    assert raw["dataset"] == "somewhere"
    assert isinstance(raw["options"]["width"], float)
    assert isinstance(raw["options"]["resolution"], int)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("half", [False, True])
def test_load_model_roundtrip(tmp_path, half):
    model = _write(tmp_path / "m.pt", half=half)
    loaded = load_model(str(tmp_path / "m.pt"))
    assert (loaded.arch, loaded.options, loaded.preprocess) == ("mobilenet_v3_small", OPTS, PRE)
    assert not loaded.module.training
    x = torch.randn(2, 1, 64, 64)
    tol = 2e-2 if half else 0.0
    torch.testing.assert_close(loaded.module(x), model(x), rtol=tol, atol=tol)
    state = load_checkpoint(tmp_path / "m.pt")["state_dict"]
    assert all(v.dtype != torch.float16 for v in state.values())


def test_plain_state_dict_needs_arch(tmp_path):
    model = build("mnasnet_b1", width=0.5, num_classes=7).eval()
    torch.save(model.state_dict(), tmp_path / "w.pth")
    with pytest.raises(EdgembError, match="needs --arch"):
        load_model(str(tmp_path / "w.pth"))
    loaded = load_model(str(tmp_path / "w.pth"), arch="mnasnet_b1", width=0.5)
    assert loaded.options["num_classes"] == 7  # read from the classifier's shape
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(loaded.module(x), model(x), rtol=0, atol=0)
    with pytest.raises(EdgembError, match="weights do not fit mobilenet_v2"):
        load_model(str(tmp_path / "w.pth"), arch="mobilenet_v2")
    with pytest.raises(EdgembError, match="weights do not fit mnasnet_b1.*shape"):
        load_model(str(tmp_path / "w.pth"), arch="mnasnet_b1", width=1.0)


def test_zoo_names_and_onnx():
    loaded = load_model("mobilenet_v1", width=0.5, resolution=96)
    assert loaded.options == {"width": 0.5, "resolution": 96, "num_classes": 1000,
                              "in_channels": 3, "width_rule": "paper"}
    assert loaded.preprocess["crop"] == 96 and loaded.preprocess["resize"] == 109
    with pytest.raises(EdgembError, match="quantize"):
        load_model("model.onnx")


def test_default_model_is_shipped_small_and_loads(one_thread):
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 1_000_000
    loaded = load_model("default")
    assert loaded.arch == "mobilenet_v2" and loaded.options["in_channels"] == 1
    assert loaded.options["num_classes"] == 10
    test = open_dataset("fashion-mnist", train=False, preprocess=loaded.preprocess,
                        in_channels=1)
    assert len(test) == 10000 and evaluate(loaded.module, test) >= 88.0


def test_bad_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(EdgembError, match="junk.pt: not a readable"):
        load_model(str(tmp_path / "junk.pt"))
    _write(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgembError, match="cut.pt: not a readable"):
        load_model(str(tmp_path / "cut.pt"))
    with pytest.raises(EdgembError, match="holds mobilenet_v3_small, not mobilenet_v2"):
        load_model(str(tmp_path / "good.pt"), arch="mobilenet_v2")
    torch.save({"format": "edgemb-checkpoint", "version": 1, "arch": "mobilenet_v2",
                "options": OPTS, "preprocess": PRE,
                "state_dict": build("mobilenet_v3_small", **OPTS).state_dict()},
               tmp_path / "mixed.pt")
    with pytest.raises(EdgembError, match="mixed.pt: weights do not fit mobilenet_v2"):
        load_model(str(tmp_path / "mixed.pt"))
    with pytest.raises(EdgembError, match="no-such.pt"):
        load_model(str(tmp_path / "no-such.pt"))


def test_corrupt_checkpoint_via_real_binary(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"PK\x03\x04 not really a zip")
    edgemb = Path(sys.executable).parent / "edgemb"
    r = subprocess.run([str(edgemb), "profile", str(tmp_path / "bad.pt")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "bad.pt: not a readable" in r.stderr


def test_profile_of_checkpoint_uses_its_options(tmp_path):
    _write(tmp_path / "m.pt", arch="mobilenet_v2")
    r = CliRunner().invoke(main, ["profile", str(tmp_path / "m.pt"), "--json"])
    assert r.exit_code == 0, r.output
    assert '"input_shape": [1, 64, 64]' in r.output


def test_old_torchvision_file_without_batch_counters(tmp_path):
    model = build("mobilenet_v3_small", width=0.5, num_classes=3).eval()
    state = {k: v for k, v in model.state_dict().items() if "num_batches_tracked" not in k}
    torch.save(state, tmp_path / "old.pth")
    loaded = load_model(str(tmp_path / "old.pth"), arch="mobilenet_v3_small", width=0.5)
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(loaded.module(x), model(x), rtol=0, atol=0)
