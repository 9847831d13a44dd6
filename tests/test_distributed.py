import json
import os
import subprocess
import sys

import numpy as np

from conftest import REPO, free_port
from segdemo import distributed, store
from segdemo.infer import Segmenter
from synthetic import write_folder


def test_each_worker_takes_every_nth_pair_from_its_index():
    assert distributed.shard(list(range(7)), 0, 2) == [0, 2, 4, 6]
    assert distributed.shard(list(range(7)), 1, 2) == [1, 3, 5]


def test_task_reads_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2", "c:3"]},
                                                "task": {"type": "worker", "index": 2}}))
    assert distributed.task() == (2, 3) and not distributed.is_chief()
    monkeypatch.delenv("TF_CONFIG")
    assert distributed.task() == (0, 1) and distributed.is_chief()


def test_two_workers_on_localhost_train_one_model_that_only_the_chief_saves(tmp_path):
    images, masks = write_folder(tmp_path / "data", n=8)
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "segdemo", "train", "--arch", "fcn8s", "--width", "0.125", "--fc-channels", "512",
             "--epochs", "3", "--steps-per-epoch", "3", "--batch-size", "4", "--crop", "64", "--lr", "0.003",
             "--images", str(images), "--masks", str(masks), "--val-split", "0.25", "--strategy", "multiworker",
             "--weights-dir", str(tmp_path / f"w{index}"), "--name", "mw"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=540)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert "the chief (worker 0) saves the model" in outputs[1]
    assert not (tmp_path / "w1" / "mw.keras").exists()  # only the chief writes
    manifest = store.read_manifest("mw", tmp_path / "w0")
    run = manifest["training"]
    assert run["workers"] == 2 and run["replicas"] == 2
    losses = [h["loss"] for h in run["history"]]
    assert losses[-1] < losses[0], losses
    assert manifest["data"]["n_train"] == 6  # the whole training set, shared out between the two workers
    seg = Segmenter.load("mw", tmp_path / "w0")
    labels = seg.segment(np.full((64, 80, 3), 120, np.uint8)).labels
    assert labels.shape == (64, 80)
