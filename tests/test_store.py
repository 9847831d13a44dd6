import json
import os

import numpy as np
import pytest

from segdemo import store
from segdemo.models import build_model


def test_saved_model_loads_with_its_manifest(tmp_path):
    model = build_model("fcn32s", num_classes=3, width=0.125)
    path = store.save(model, {"arch": "fcn32s", "classes": ["a", "b", "c"]}, "m", tmp_path)
    loaded, manifest = store.load("m", tmp_path)
    assert path == tmp_path / "m.keras" and manifest["sha256"] == store.sha256(path)
    assert [m["name"] for m in store.list_models(tmp_path)] == ["m"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary files left


def test_environment_variable_points_at_another_weights_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(store.WEIGHTS_ENV, str(tmp_path))
    assert store.weights_dir() == tmp_path.resolve()


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/b", "", ".hidden", "x" * 80])
def test_invalid_model_names_are_refused(name, tmp_path):
    with pytest.raises(store.ModelFileError, match="invalid model name|unsupported or unsafe"):
        store.load(name, tmp_path)
    with pytest.raises(store.ModelFileError, match="invalid model name"):
        store.check_name(name)


def test_manifest_class_count_must_match_the_model(tmp_path):
    store.save(build_model("fcn32s", num_classes=3, width=0.125), {"classes": ["a", "b", "c"]}, "m", tmp_path)
    manifest = json.loads((tmp_path / "m.json").read_text())
    manifest["classes"] = ["a", "b"]
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    with pytest.raises(store.ModelFileError, match="outputs 3 classes but its manifest names 2"):
        store.load("m", tmp_path)


def test_a_modified_model_file_fails_its_checksum(tmp_path):
    store.save(build_model("fcn32s", num_classes=3, width=0.125), {"classes": ["a", "b", "c"]}, "m", tmp_path)
    with open(tmp_path / "m.keras", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(store.ModelFileError, match="checksum"):
        store.load("m", tmp_path)


def test_a_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    model = build_model("fcn32s", num_classes=3, width=0.125)
    store.save(model, {"classes": ["a", "b", "c"], "version": 1}, "m", tmp_path)
    before = (tmp_path / "m.keras").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "load_keras", disk_full)  # fails after the temporary file is written
    with pytest.raises(OSError, match="No space"):
        store.save(model, {"classes": ["a", "b", "c"], "version": 2}, "m", tmp_path)
    assert (tmp_path / "m.keras").read_bytes() == before
    assert json.loads((tmp_path / "m.json").read_text())["version"] == 1
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.keras"]


def test_symlinked_model_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    inside = tmp_path / "weights"
    store.save(build_model("fcn32s", num_classes=3, width=0.125), {"classes": ["a", "b", "c"]}, "m", outside)
    inside.mkdir()
    (inside / "m.keras").symlink_to(outside / "m.keras")
    (inside / "m.json").symlink_to(outside / "m.json")
    with pytest.raises(store.ModelFileError, match="outside the weights folder"):
        store.load("m", inside)
    assert store.list_models(inside) == []


def test_saved_files_carry_no_optimizer_state(tmp_path):
    import keras

    model = build_model("fcn32s", num_classes=3, width=0.125)
    store.save(model, {"classes": list("abc")}, "plain", tmp_path)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.fit(np.zeros((1, 32, 32, 3)), np.zeros((1, 32, 32, 3)), verbose=0)
    store.save(model, {"classes": list("abc")}, "trained", tmp_path)
    ratio = os.path.getsize(tmp_path / "trained.keras") / os.path.getsize(tmp_path / "plain.keras")
    assert ratio < 1.1


def test_a_models_headline_figure_is_labelled_with_its_split():
    val = {"miou": 0.5}
    assert store.headline({"name": "a", "metrics": {"val": val}}) == ("val", val)
    split, figure = store.headline({"name": "b", "recipe": {"holdout": "0006R0_*"}, "metrics": {"val": val}})
    assert split == "cross-sequence" and figure["miou"] == 0.5 and figure["model"] == "b"
    assert "0006R0_*" in figure["frames"]
    carried = {"miou": 0.4, "frames": "drive X", "model": "twin"}
    assert store.headline({"name": "c", "metrics": {"val": None, "cross_sequence": carried}}) == (
        "cross-sequence", carried)
    assert store.headline({"name": "d", "metrics": {"val": None}}) == (None, None)
    assert store.cross_sequence({"name": "a", "metrics": {"val": val}}) is None
