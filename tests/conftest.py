import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from synthetic import write_folder


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
