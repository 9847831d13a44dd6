import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from segdemo import data, store
from segdemo.train import TrainConfig, make_loss, train
from synthetic import write_folder


def tiny_config(images, masks, **overrides):
    values = dict(arch="fcn8s", width=0.125, fc_channels=512, epochs=2, steps_per_epoch=2, batch_size=2,
                  crop=(64, 64), images=str(images), masks=str(masks), val_split=0.25)
    return TrainConfig(**{**values, **overrides})


def test_training_saves_the_best_epoch_with_its_manifest(synthetic_folder, tmp_path):
    events = []
    path, manifest = train(tiny_config(*synthetic_folder), "m", tmp_path / "w", on_progress=events.append)
    assert path == tmp_path / "w" / "m.keras"
    assert manifest["classes"] == ["class 0", "class 1", "class 2"]
    assert manifest["recipe"]["arch"] == "fcn8s" and manifest["data"]["n_val"] == 2
    best = max(manifest["training"]["history"], key=lambda h: h["val_miou"])
    assert manifest["metrics"]["val"]["miou"] == best["val_miou"]
    phases = [e.phase for e in events]
    assert phases.count("train") == 4 and phases.count("epoch") == 2 and phases[-1] == "done"
    assert events[-1].fraction == 1.0 and np.isfinite(events[-1].loss)
    store.load("m", tmp_path / "w")


def test_binary_masks_and_grayscale_images_train(tmp_path):
    images, masks = write_folder(tmp_path / "d", n=6, binary=True, grayscale=True)
    path, manifest = train(tiny_config(images, masks, arch="segnet", epochs=1, classes=("bg", "thing")),
                           "binary", tmp_path / "w")
    assert manifest["classes"] == ["bg", "thing"]
    assert any("0/255" in w for w in manifest["data"]["notes"])


def test_a_stop_request_ends_training_and_keeps_the_best_epoch(synthetic_folder, tmp_path):
    stop = threading.Event()

    def progress(p):
        if p.phase == "epoch":
            stop.set()  # stop during the second epoch

    path, manifest = train(tiny_config(*synthetic_folder, epochs=5), "m", tmp_path / "w",
                           on_progress=progress, stop_event=stop)
    assert manifest["training"]["stopped_early"] and manifest["training"]["epochs_run"] == 2


def test_ctrl_c_before_the_first_epoch_ends_leaves_the_previous_model(synthetic_folder, tmp_path):
    train(tiny_config(*synthetic_folder, epochs=1), "m", tmp_path / "w")
    before = (tmp_path / "w" / "m.keras").read_bytes()

    def ctrl_c(progress):
        if progress.phase == "train":
            raise KeyboardInterrupt

    path, manifest = train(tiny_config(*synthetic_folder, epochs=3), "m", tmp_path / "w", on_progress=ctrl_c)
    assert path is None and manifest is None
    assert (tmp_path / "w" / "m.keras").read_bytes() == before
    store.load("m", tmp_path / "w")


def test_init_copies_weights_by_layer_name(synthetic_folder, tmp_path):
    train(tiny_config(*synthetic_folder, arch="fcn32s", epochs=1), "f32", tmp_path / "w")
    _, manifest = train(tiny_config(*synthetic_folder, arch="fcn16s", epochs=1, init="f32"), "f16", tmp_path / "w")
    assert manifest["training"]["init_layers_copied"] >= 20


@pytest.mark.parametrize("key,value", [("arch", "unet"), ("loss", "hinge"), ("class_weights", "inverse"),
                                       ("crop", (50, 64))])
def test_bad_options_name_the_choices(key, value):
    with pytest.raises(ValueError, match=key):
        TrainConfig(**{key: value}).check()


def test_loss_ignores_void_pixels():
    import tensorflow as tf

    loss = make_loss("ce", num_classes=2, ignore_index=255)
    logits = tf.constant([[[[5.0, 0.0], [0.0, 5.0]]]])  # (1, 1, 2, 2): confident, correct on pixel 0
    y_good = tf.constant([[[0, 255]]])  # pixel 1 is void
    y_bad = tf.constant([[[0, 0]]])
    assert float(loss(y_good, logits)) < 0.01 < float(loss(y_bad, logits))


@pytest.mark.parametrize("kind", ["weighted-ce", "dice", "ce-dice", "focal"])
def test_every_loss_is_finite_and_lower_for_the_right_answer(kind):
    import tensorflow as tf

    loss = make_loss(kind, num_classes=3, ignore_index=255, class_weights=np.array([0.5, 1, 2], np.float32))
    y = tf.constant([[[0, 1, 2, 255]]])
    right = tf.one_hot(tf.constant([[[0, 1, 2, 0]]]), 3) * 8.0
    wrong = tf.one_hot(tf.constant([[[1, 2, 0, 0]]]), 3) * 8.0
    assert 0 <= float(loss(y, right)) < float(loss(y, wrong))


def test_mirrored_strategy_over_two_cpu_devices_lowers_the_loss(tmp_path):
    images, masks = write_folder(tmp_path / "d", n=8)
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from segdemo.train import TrainConfig, train
        config = TrainConfig(arch="fcn32s", width=0.125, fc_channels=256, epochs=3, steps_per_epoch=8,
                             batch_size=4, crop=(64, 64), lr=3e-3, warmup_epochs=0, dropout=0.0,
                             images={str(images)!r}, masks={str(masks)!r}, val_split=0.25, strategy="mirrored")
        from segdemo.train import pick_strategy
        assert pick_strategy("mirrored").num_replicas_in_sync == 2
        path, manifest = train(config, "mirrored", {str(tmp_path / "w")!r})
        print("RESULT", json.dumps(manifest["training"]["history"]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    history = json.loads(out.stdout.split("RESULT", 1)[1])
    assert history[-1]["loss"] < history[0]["loss"]


def test_holdout_validates_on_the_matching_frames_only(synthetic_folder, tmp_path):
    _, manifest = train(tiny_config(*synthetic_folder, epochs=1, holdout="frame_00[67]"), "m", tmp_path / "w")
    frames = manifest["data"]
    assert frames["val_frames"] == ["frame_006", "frame_007"]
    assert frames["train_frames"] == [f"frame_{i:03d}" for i in range(6)]
    assert "frame_00[67]" in frames["val"] and manifest["data"]["n_val"] == 2


def test_a_model_trained_on_every_frame_reports_its_holdout_twins_cross_sequence_figure(synthetic_folder, tmp_path):
    weights = tmp_path / "w"
    _, twin = train(tiny_config(*synthetic_folder, epochs=1, holdout="frame_00[67]", keep="last"), "twin", weights)
    _, full = train(tiny_config(*synthetic_folder, epochs=1, val_split=0, keep="last", cross_sequence_from="twin"),
                    "full", weights)
    figure = full["metrics"]["cross_sequence"]
    assert figure["miou"] == twin["metrics"]["val"]["miou"] and figure["model"] == "twin"
    assert "frame_00[67]" in figure["frames"] and full["metrics"]["val"] is None
    assert store.headline(full) == ("cross-sequence", figure) == store.headline(twin)
    train(tiny_config(*synthetic_folder, epochs=1), "split", weights)  # validated on a random split
    with pytest.raises(ValueError, match="'split': that model has no cross-sequence figure"):
        train(tiny_config(*synthetic_folder, val_split=0, keep="last", cross_sequence_from="split"), "x", weights)
    with pytest.raises(ValueError, match="'nope'.*no manifest"):
        train(tiny_config(*synthetic_folder, val_split=0, keep="last", cross_sequence_from="nope"), "x", weights)
    assert not (weights / "x.keras").exists()


def test_holdout_matching_nothing_is_refused(synthetic_folder, tmp_path):
    with pytest.raises(ValueError, match="matches 0 of 8"):
        train(tiny_config(*synthetic_folder, holdout="0006R0_*"), "m", tmp_path / "w")


def test_several_folders_train_as_one_set(tmp_path):
    first = write_folder(tmp_path / "a", n=4)
    second = write_folder(tmp_path / "b", n=3, seed=1)
    config = tiny_config(*first, epochs=1, val_split=0, keep="last")
    config.images, config.masks = (str(first[0]), str(second[0])), (str(first[1]), str(second[1]))
    _, manifest = train(config, "m", tmp_path / "w")
    assert manifest["data"]["n_train"] == 7 and manifest["data"]["n_val"] == 0


def test_without_validation_the_last_epoch_is_kept_and_no_figure_is_called_validation(synthetic_folder, tmp_path):
    path, manifest = train(tiny_config(*synthetic_folder, epochs=2, val_split=0, keep="last"), "m", tmp_path / "w")
    assert manifest["metrics"]["val"] is None and manifest["metrics"]["kept"] == "last"
    assert manifest["metrics"]["epoch"] == 2 and manifest["data"]["val_frames"] == []
    assert manifest["data"]["val"].startswith("none")
    with pytest.raises(ValueError, match="keep must be 'last'"):
        tiny_config(*synthetic_folder, val_split=0).check()


def test_keep_last_saves_the_last_epoch_even_when_an_earlier_one_scored_better(synthetic_folder, tmp_path):
    _, manifest = train(tiny_config(*synthetic_folder, epochs=3, keep="last", lr=0.5), "m", tmp_path / "w")
    history = manifest["training"]["history"]
    assert manifest["metrics"]["epoch"] == 3
    assert manifest["metrics"]["val"]["miou"] == history[-1]["val_miou"]


def test_bfloat16_training_is_recorded_and_saves_a_float32_model(synthetic_folder, tmp_path):
    _, manifest = train(tiny_config(*synthetic_folder, epochs=1, precision="bfloat16"), "m", tmp_path / "w")
    assert manifest["training"]["precision"] == "bfloat16"
    model, _ = store.load("m", tmp_path / "w")
    assert model.dtype_policy.name == "float32"


def run_cli_training(args, tmp_path):
    """`python -m segdemo train ARGS` in the background, stdout piped; killed after 240 s."""
    env = {**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # the command's own choice
    proc = subprocess.Popen([sys.executable, "-m", "segdemo", "train", *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=open(tmp_path / "stderr.txt", "a"))
    timer = threading.Timer(240, proc.kill)
    timer.start()
    return proc, timer


def test_a_killed_run_resumes_with_its_optimizer_state_and_schedule(synthetic_folder, tmp_path):
    images, masks = synthetic_folder
    args = ["--images", images, "--masks", masks, "--arch", "fcn8s", "--width", "0.125", "--fc-channels", "256",
            "--epochs", "4", "--steps-per-epoch", "3", "--batch-size", "2", "--crop", "64x64", "--val-split", "0",
            "--keep", "last", "--warmup-epochs", "0", "--name", "m", "--weights-dir", tmp_path / "w"]
    proc, timer = run_cli_training(args, tmp_path)
    for line in proc.stdout:
        if line.startswith("epoch 2/"):
            proc.kill()  # SIGKILL: no chance to clean up
            break
    proc.wait()
    timer.cancel()
    assert not (tmp_path / "w" / "m.keras").exists()
    with pytest.raises(ValueError, match="recipe differs"):
        train(tiny_config(images, masks, epochs=5, val_split=0, keep="last"), "m", tmp_path / "w", resume=True)
    proc, timer = run_cli_training([*args, "--resume"], tmp_path)
    out = proc.stdout.read()
    proc.wait()
    timer.cancel()
    assert proc.returncode == 0 and "resuming after epoch 2 of 4" in out, (tmp_path / "stderr.txt").read_text()
    resumed = store.read_manifest("m", tmp_path / "w")["training"]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4] and not resumed["stopped_early"]
    assert [s["from_epoch"] for s in resumed["sittings"]] == [1, 3]  # each sitting: where and in which precision
    assert all(s["precision"] == resumed["precision"] for s in resumed["sittings"])
    assert all(s["onednn"] is True for s in resumed["sittings"])  # TensorFlow ran the oneDNN kernels the command asks for
    # The same run without the kill: the learning rates of every epoch agree (the schedule went on).
    config = TrainConfig.from_dict(store.read_manifest("m", tmp_path / "w")["recipe"])
    _, whole = train(config, "whole", tmp_path / "w")
    np.testing.assert_allclose([h["lr"] for h in resumed["history"]],
                               [h["lr"] for h in whole["training"]["history"]], rtol=1e-5)
    assert not list((tmp_path / "w" / ".checkpoints").glob("m.resume.*"))  # finished: nothing left to resume
    with pytest.raises(ValueError, match="nothing to resume"):
        train(config, "m", tmp_path / "w", resume=True)


def test_a_time_budget_ends_the_run_at_the_first_step_past_it(synthetic_folder, tmp_path):
    events = []
    _, manifest = train(tiny_config(*synthetic_folder, minutes=0.25, epochs=1), "m", tmp_path / "w",
                        on_progress=events.append)
    run = manifest["training"]
    assert run["stop_reason"] == "the time budget of 0.25 min is spent" and not run["stopped_early"]
    steps = [e for e in events if e.phase == "train"]
    assert [e.seconds >= 15 for e in steps].count(True) == 1 and steps[-1].seconds >= 15  # no step after it
    assert run["seconds"] >= 15 and events[-1].fraction == 1.0 and events[-1].budget == 15.0


def test_the_budget_schedule_warms_up_then_decays_along_the_share_of_time_spent():
    from segdemo.monitor import BudgetSchedule

    schedule = BudgetSchedule(1e-3, warmup=0.1, alpha=0.01)
    lrs = []
    for spent in (0.0, 0.05, 0.1, 0.55, 1.0):
        schedule.spent.assign(spent)
        lrs.append(float(schedule(0)))
    np.testing.assert_allclose(lrs, [0.0, 5e-4, 1e-3, 1e-3 * (0.01 + 0.99 * 0.5), 1e-5], rtol=1e-5)
    assert BudgetSchedule.for_budget(1e-3, 10).warmup == 0.05  # 30 s of a 10 min budget
    assert BudgetSchedule.for_budget(1e-3, 24 * 60).warmup == pytest.approx(60 / (24 * 3600))  # a minute, not 72


def test_patience_counts_steps_and_the_manifest_says_why_the_run_stopped(synthetic_folder, tmp_path):
    _, manifest = train(tiny_config(*synthetic_folder, epochs=30, lr=0.0, warmup_epochs=0, patience_steps=4),
                        "m", tmp_path / "w")
    run = manifest["training"]
    assert run["epochs_run"] == 3  # 2 steps an epoch: no better val mIoU for 4 steps after epoch 1
    assert run["stopped_early"] and run["stop_reason"] == "early stopping: no better val mIoU for 4 steps"


def test_a_head_start_copies_the_encoder_only_and_the_manifest_records_it(synthetic_folder, tmp_path):
    from segdemo.models import ENCODER_PREFIX

    train(tiny_config(*synthetic_folder, epochs=1), "source", tmp_path / "w")
    images, masks = write_folder(tmp_path / "binary", n=6, binary=True)
    _, manifest = train(tiny_config(images, masks, arch="segnet", epochs=1, lr=0.0, warmup_epochs=0,
                                    start_from="source"), "m", tmp_path / "w")
    assert manifest["recipe"]["start_from"] == "source"
    source, _ = store.load("source", tmp_path / "w")
    model, _ = store.load("m", tmp_path / "w")
    copied = [layer.name for layer in model.layers if layer.weights and layer.name.startswith(ENCODER_PREFIX)
              and not layer.name.endswith("_bn")]  # lr 0 keeps the weights; BN statistics still move
    assert copied and manifest["training"]["init_layers_copied"] >= len(copied)
    for name in copied:
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0],
                                      source.get_layer(name).get_weights()[0])


def test_a_head_start_from_another_width_is_refused(synthetic_folder, tmp_path):
    train(tiny_config(*synthetic_folder, epochs=1), "source", tmp_path / "w")
    with pytest.raises(ValueError, match="width 0.125"):
        train(tiny_config(*synthetic_folder, width=0.25, start_from="source"), "m", tmp_path / "w")


def test_the_automatic_head_start_is_the_default_model_at_its_width(synthetic_folder, tmp_path):
    from segdemo.train import head_start

    assert TrainConfig().start_from == "auto"
    assert head_start(0.125, tmp_path / "w") == ""  # no default model there: from scratch
    train(tiny_config(*synthetic_folder, epochs=1, start_from=""), store.DEFAULT_MODEL, tmp_path / "w")
    assert head_start(0.125, tmp_path / "w") == store.DEFAULT_MODEL
    assert head_start(0.25, tmp_path / "w") == ""  # another width: from scratch
    _, manifest = train(tiny_config(*synthetic_folder, epochs=1), "m", tmp_path / "w")
    assert manifest["recipe"]["start_from"] == store.DEFAULT_MODEL and manifest["training"]["init_layers_copied"]


def test_the_automatic_crop_and_weighting_follow_the_image_size(tmp_path):
    images, masks = write_folder(tmp_path / "d", n=4, size=(100, 150))
    _, manifest = train(tiny_config(images, masks, crop=(), epochs=1, class_weights="auto"), "m", tmp_path / "w")
    assert manifest["recipe"]["crop"] == [96, 96]
    assert manifest["recipe"]["class_weights"] == "none"  # the crop shows 61% of each image
    _, manifest = train(tiny_config(images, masks, epochs=1, class_weights="auto"), "m", tmp_path / "w")  # 27%
    assert manifest["recipe"]["class_weights"] == "enet"


def test_a_setup_pitfall_is_printed_and_kept_in_the_manifest(synthetic_folder, tmp_path, capsys):
    _, manifest = train(tiny_config(*synthetic_folder, epochs=1, val_split=0.1), "m", tmp_path / "w")
    assert "warning: Only 1 image would be kept aside" in capsys.readouterr().out
    assert any(n.startswith("Only 1 image would be kept aside") for n in manifest["data"]["notes"])
