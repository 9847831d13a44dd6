"""Interruptions end to end: training stopped by Ctrl-C or kill -9, a disk that fills up during a save,
OS errors and Ctrl-C in the CLI. Nothing half-written is ever left in place of a model."""
import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from conftest import REPO as ROOT, SYNTHETIC_CLASSES as CLASSES, noise_photo as photo
from segdemo import files, store
from segdemo.models import build_model

# ----------------------------------------------------------------------------- interrupted training


def start_training(images, masks, weights, name, tmp_path, epochs=500):
    """`python -m segdemo train` in the background, stdout piped line by line, killed after 240 s."""
    args = ["train", "--arch", "fcn8s", "--images", images, "--masks", masks, "--val-split", "0.25",
            "--epochs", epochs, "--steps-per-epoch", "2", "--batch-size", "2", "--crop", "64x64",
            "--width", "0.125", "--fc-channels", "256", "--classes", ",".join(CLASSES), "--name", name,
            "--weights-dir", weights]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    stderr = open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "segdemo", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    stderr.close()
    timer = threading.Timer(240, proc.kill)
    timer.start()
    proc.timer = timer
    return proc


def wait_for(proc, prefix):
    """Read stdout until a line starts with `prefix`; returns the lines read."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"process ended before {prefix!r}: {''.join(lines)}")


def test_ctrl_c_saves_the_best_epoch_and_exits(synthetic_folder, tmp_path):
    weights = tmp_path / "w"
    proc = start_training(*synthetic_folder, weights, "m", tmp_path)
    try:
        wait_for(proc, "epoch 1/")
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        code = proc.wait(timeout=120)
    finally:
        proc.timer.cancel()
        proc.kill()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 0 and "interrupted: saving the best epoch so far" in rest and "saved" in rest, stderr[-2000:]
    assert "Traceback" not in stderr
    model, manifest = store.load("m", weights)
    assert manifest["training"]["stopped_early"] and manifest["training"]["epochs_run"] < 500
    assert sorted(os.listdir(weights)) == [".checkpoints", "m.json", "m.keras"]
    # What --resume needs stays; the epoch checkpoint has been promoted to m.keras.
    assert sorted(os.listdir(weights / ".checkpoints")) == ["m.resume.json", "m.resume.npz"]
    assert "continue with --resume" in rest


def test_kill_9_mid_run_keeps_the_old_model_and_a_new_run_succeeds(copy_of_tiny, synthetic_folder, tmp_path):
    from segdemo.train import TrainConfig, train

    folder, old_sha = copy_of_tiny
    old_manifest = (folder / "tiny.json").read_bytes()
    proc = start_training(*synthetic_folder, folder, "tiny", tmp_path)
    try:
        wait_for(proc, "epoch 1/")  # a checkpoint of this run exists now
        proc.kill()
        proc.wait(timeout=60)
    finally:
        proc.timer.cancel()
    assert store.sha256(folder / "tiny.keras") == old_sha
    assert (folder / "tiny.json").read_bytes() == old_manifest
    assert set(os.listdir(folder)) <= {"tiny.keras", "tiny.json", ".checkpoints"}
    _, manifest = store.load("tiny", folder)
    assert manifest["sha256"] == old_sha

    images, masks = synthetic_folder
    config = TrainConfig(arch="fcn8s", width=0.125, fc_channels=256, epochs=1, steps_per_epoch=1, batch_size=2,
                         crop=(64, 64), images=str(images), masks=str(masks), val_split=0.25,
                         classes=tuple(CLASSES))
    path, manifest = train(config, "tiny", folder)
    assert path == folder / "tiny.keras" and manifest["sha256"] != old_sha
    assert store.load("tiny", folder)[1]["sha256"] == store.sha256(path)
    assert not (folder / ".checkpoints" / "tiny.keras").exists()


# ----------------------------------------------------------------------------- a disk that fills up


ENOSPC = OSError(28, "No space left on device")


@pytest.fixture
def saved(tmp_path):
    """A weights folder holding model 'm' (version 1): (folder, a newer model, model bytes, manifest bytes).

    The newer model has other weights, so that its file differs from version 1's byte for byte.
    """
    store.save(build_model("fcn32s", num_classes=3, width=0.125), {"classes": CLASSES, "version": 1}, "m", tmp_path)
    newer = build_model("fcn32s", num_classes=3, width=0.125)
    return tmp_path, newer, (tmp_path / "m.keras").read_bytes(), (tmp_path / "m.json").read_bytes()


def assert_version_1_intact(saved):
    folder, _, model_bytes, manifest_bytes = saved
    assert (folder / "m.keras").read_bytes() == model_bytes
    assert (folder / "m.json").read_bytes() == manifest_bytes
    assert sorted(os.listdir(folder)) == ["m.json", "m.keras"]  # no temporary file left
    assert store.load("m", folder)[1]["version"] == 1


def test_disk_full_inside_keras_save_keeps_the_old_model(saved, monkeypatch):
    from keras.src.saving import saving_lib

    class FillsUp(io.FileIO):
        """A file that takes 4 KiB and then reports a full disk."""

        def write(self, data):
            if self.tell() + len(data) > 4096:
                super().write(bytes(data)[:max(0, 4096 - self.tell())])
                raise ENOSPC
            return super().write(data)

    written = []

    def open_filling(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(".keras"):
            written.append(path)
            return io.BufferedWriter(FillsUp(path, "w"))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(saving_lib, "open", open_filling, raising=False)
    with pytest.raises(OSError, match="No space"):
        store.save(saved[1], {"classes": CLASSES, "version": 2}, "m", saved[0])
    assert written  # the failure really happened inside Keras' writing of the file
    assert_version_1_intact(saved)


def test_disk_full_while_writing_the_manifest_keeps_the_old_model(saved, monkeypatch):
    real_dump = json.dump

    def dump(obj, f, **kwargs):
        if obj.get("version") == 2:
            f.write("{")
            raise ENOSPC
        return real_dump(obj, f, **kwargs)

    monkeypatch.setattr(json, "dump", dump)
    with pytest.raises(OSError, match="No space"):
        store.save(saved[1], {"classes": CLASSES, "version": 2}, "m", saved[0])
    assert_version_1_intact(saved)


def test_cli_reports_os_errors_and_interrupts_in_one_line(tiny_weights, tmp_path, main, monkeypatch):
    (tmp_path / "o").write_text("a file where the output folder should go")
    code, _, err = main("predict", "--model", "tiny", photo(tmp_path), "--out", tmp_path / "o",
                        "--weights-dir", tiny_weights)
    assert code == 1 and err.startswith("error: ") and "File exists" in err and err.count("\n") == 1

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "check_dataset", interrupted)
    try:
        code, _, err = main("check", "--images", tmp_path, "--masks", tmp_path)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the CLI with a traceback")
    assert code == 130 and err == "interrupted\n"
