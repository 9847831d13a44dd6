"""Shared fixtures.

tiny_weights, synthetic_folder: a tiny synthetic model and folder for the core tests.
weights_dir, app_module, app_url: for the app tests (test_app.py, test_browser.py), a weights
folder with the four CamVid models and the app served from it. The app tests never touch the
real weights/ folder: the session's folder is a temporary copy of the shipped models, and when
a shipped model is missing (e.g. before the long trainings have finished) a tiny one of the
same name is trained in a few seconds on CamVid's val split instead.
"""
import os
import shutil
import socket
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from synthetic import write_folder

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "weights"
CAMVID = REPO.parent / "shared" / "camvid"
SHIPPED_NAMES = ("camvid-fcn32s", "camvid-fcn16s", "camvid-fcn8s", "camvid-segnet")
TINY_STEPS = {"fcn8s": 30}  # enough for FCN-8s to tell road, sky and buildings apart; others: 6


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A weights folder holding 'tiny', an FCN-8s trained for a few steps on a synthetic 3-class folder."""
    from segdemo.train import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny")
    images, masks = write_folder(root / "data", n=8)
    config = TrainConfig(arch="fcn8s", width=0.125, fc_channels=512, epochs=2, steps_per_epoch=3,
                         batch_size=2, crop=(64, 64), images=str(images), masks=str(masks),
                         val_split=0.25, classes=("background", "box", "disc"))
    train(config, "tiny", weights_dir=root / "weights")
    return root / "weights"


@pytest.fixture
def synthetic_folder(tmp_path):
    """(images dir, masks dir) of 8 synthetic 64x80 pairs with classes 0, 1, 2."""
    return write_folder(tmp_path / "data", n=8)


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_tiny(arch, name, folder):
    """A tiny CamVid model trained in seconds (for when the shipped one is missing)."""
    from segdemo import data
    from segdemo.train import TrainConfig, train

    config = TrainConfig(arch=arch, width=0.125, fc_channels=256, epochs=1, batch_size=4, crop=(128, 128),
                         lr=3e-3, steps_per_epoch=TINY_STEPS.get(arch, 6), val_split=0.1,
                         classes=data.CAMVID_CLASSES, ignore_index=data.CAMVID_IGNORE,
                         images=str(CAMVID / "val"), masks=str(CAMVID / "valannot"))
    path, _ = train(config, name, weights_dir=folder, command="tests/conftest.py")
    assert path is not None


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory):
    """A temporary weights folder holding camvid-fcn32s/16s/8s and camvid-segnet."""
    folder = tmp_path_factory.mktemp("weights")
    for name in SHIPPED_NAMES:
        model, manifest = SHIPPED / f"{name}.keras", SHIPPED / f"{name}.json"
        if model.is_file() and manifest.is_file():
            shutil.copy2(model, folder)
            shutil.copy2(manifest, folder)
            continue
        if not (CAMVID / "val").is_dir():
            pytest.skip(f"no shipped {name} in {SHIPPED} and no CamVid data in {CAMVID} to train one")
        train_tiny(name.split("-", 1)[1], name, folder)
    return folder


@pytest.fixture(scope="session")
def app_module(weights_dir):
    """`app`, imported with SEGDEMO_WEIGHTS pointing at the session's weights folder."""
    previous = os.environ.get("SEGDEMO_WEIGHTS")
    os.environ["SEGDEMO_WEIGHTS"] = str(weights_dir)
    sys.path.insert(0, str(REPO))
    import app

    yield app
    if previous is None:
        os.environ.pop("SEGDEMO_WEIGHTS", None)
    else:
        os.environ["SEGDEMO_WEIGHTS"] = previous


@pytest.fixture(scope="session")
def app_url(app_module):
    """The app served in this process on a free port, as `python app.py` serves it."""
    started = time.perf_counter()
    _, url, _ = app_module.launch(port=free_port(), prevent_thread_lock=True, quiet=True)
    print(f"app up in {time.perf_counter() - started:.1f} s at {url}")
    yield url.rstrip("/") + "/"
    app_module.demo.close()
