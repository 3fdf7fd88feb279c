"""`edgemb train`: a tiny real run learns, and an interrupted run resumes exactly."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from edgemobilenet.checkpoint import load_checkpoint
from edgemobilenet.cli import main
from edgemobilenet.errors import EdgembError
from edgemobilenet.data import open_dataset
from edgemobilenet.models.loader import load_model
from edgemobilenet.train import TrainConfig, evaluate, train

ARGS = ["mobilenet_v2", "--data", "fashion-mnist", "--width", "0.35", "--limit", "1024",
        "--batch-size", "32", "--lr", "0.02", "--threads", "1"]


@pytest.mark.slow  # 18 s on a lightly loaded 2-core machine, up to 55 s when it is busy
def test_train_learns_and_resume_is_exact(tmp_path, one_thread):
    straight, part = tmp_path / "straight.pt", tmp_path / "part.pt"
    r = CliRunner().invoke(main, ["train", *ARGS, "--epochs", "2", "-o", str(straight)])
    assert r.exit_code == 0, r.output
    assert "val top-1" in r.output
    ckpt = load_checkpoint(straight)
    assert ckpt["epoch"] == 2 and ckpt["val_top1"] > 20.0  # chance is 10%
    assert ckpt["options"] == {"width": 0.35, "resolution": 32, "num_classes": 10,
                               "in_channels": 1, "width_rule": "paper"}
    assert ckpt["dataset"] == "fashion-mnist" and "optimizer" in ckpt

    cfg = TrainConfig(arch="mobilenet_v2", data="fashion-mnist", width=0.35, epochs=2,
                      batch_size=32, lr=0.02, limit=1024)
    assert train(cfg, part, stop_after=1)["epoch"] == 1
    r = CliRunner().invoke(main, ["train", *ARGS, "--epochs", "2", "--resume", str(part),
                                  "-o", str(part)])
    assert r.exit_code == 0, r.output
    resumed = load_checkpoint(part)
    assert resumed["epoch"] == 2
    for k, v in ckpt["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][k], v, rtol=0, atol=0)

    loaded = load_model(str(straight))
    assert loaded.arch == "mobilenet_v2" and not loaded.module.training
    ds = open_dataset("fashion-mnist", train=False, preprocess=loaded.preprocess,
                      in_channels=1)
    assert evaluate(loaded.module, ds) > 20.0  # the whole 10k test set


def test_resume_with_other_arch_is_refused(tmp_path, one_thread):
    out = tmp_path / "m.pt"
    cfg = TrainConfig(arch="mobilenet_v2", data="fashion-mnist", width=0.25, resolution=32,
                      epochs=1, batch_size=32, limit=32)
    train(cfg, out)
    r = CliRunner().invoke(main, ["train", "mobilenet_v1", "--data", "fashion-mnist",
                                  "--limit", "64", "--resume", str(out), "-o", str(out)])
    assert isinstance(r.exception, EdgembError) and "cannot resume" in str(r.exception)


@pytest.mark.parametrize("args,msg", [
    (["resnet", "--data", "fashion-mnist"], "unknown architecture 'resnet'"),
    (["mobilenet_v2", "--data", "fashion-mnist", "--width", "-1"], "width must be > 0"),
    (["mobilenet_v2", "--data", "nowhere/at/all"], "nowhere/at/all: no such dataset"),
])
def test_bad_train_input(tmp_path, args, msg):
    r = CliRunner().invoke(main, ["train", *args, "-o", str(tmp_path / "m.pt")])
    assert isinstance(r.exception, EdgembError) and msg in str(r.exception)
    assert not (tmp_path / "m.pt").exists()
