"""The weights folder: NAME.keras + NAME.json manifests, safe loading, atomic saving."""
import hashlib
import json
import os
import re
from pathlib import Path

from .atomic import atomic_write, sync, temporary  # noqa: F401 (store.atomic_write, as before)

WEIGHTS_ENV = "SEGDEMO_WEIGHTS"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MODEL_SUFFIX = ".keras"
DEFAULT_MODEL = "camvid-fcn8s"  # the best shipped model: the app's default and the benchmark's


class ModelFileError(ValueError):
    """A model file or name that cannot be loaded safely."""


def weights_dir(path=None):
    """The weights folder: `path`, else $SEGDEMO_WEIGHTS, else the shipped weights/."""
    return Path(path or os.environ.get(WEIGHTS_ENV) or SHIPPED_DIR).resolve()


def check_name(name):
    """Return `name` if it is a valid model name (letters, digits, . _ -), else raise."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or ".." in name:
        raise ModelFileError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def sha256(path):
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_models(directory=None):
    """Manifests of the models in the weights folder, sorted by name.

    Returns:
        list of manifest dicts, each with "name"; files that are not a valid
        NAME.keras + NAME.json pair are skipped.
    """
    folder = weights_dir(directory)
    manifests = []
    for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
        name = path.stem
        if not NAME_PATTERN.match(name) or path.is_symlink() or not path.is_file():
            continue
        try:
            manifests.append(read_manifest(name, folder))
        except (OSError, ValueError):
            continue
    return manifests


def model_paths(name, directory=None):
    """(model path, manifest path) for `name`, both checked to lie inside the weights folder."""
    folder = weights_dir(directory)
    check_name(name)
    model, manifest = folder / f"{name}{MODEL_SUFFIX}", folder / f"{name}.json"
    for path in (model, manifest):
        if path.is_symlink() or path.resolve().parent != folder:
            raise ModelFileError(f"{path.name}: refusing a model outside the weights folder")
    return model, manifest


def read_manifest(name, directory=None):
    """Load NAME.json from the weights folder."""
    _, manifest = model_paths(name, directory)
    if not manifest.is_file():
        raise ModelFileError(f"{manifest}: no manifest for model {name!r}")
    try:
        data = json.loads(manifest.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{manifest.name}: not a valid manifest ({err})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{manifest.name}: not a valid manifest (expected a JSON object)")
    classes, palette = data.get("classes"), data.get("palette")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ModelFileError(f"{manifest.name}: no list of class names (\"classes\")")
    if palette is not None and not (isinstance(palette, list) and len(palette) == len(classes) and all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c)
            for c in palette)):
        raise ModelFileError(f"{manifest.name}: the palette must give one [r, g, b] (0..255) per class")
    data["name"] = name
    return data


def cross_sequence(manifest):
    """A model's scores on frames of a drive it did not train on, or None.

    A run with a holdout (train --holdout) has them as its validation scores; a model trained on
    every frame carries its holdout twin's (train --cross-sequence-from) in metrics.cross_sequence.
    Returns:
        the scores dict (as metrics.val) with "frames" (which, in words) and "model" (whose run).
    """
    metrics = manifest.get("metrics") or {}
    if metrics.get("cross_sequence"):
        return metrics["cross_sequence"]
    holdout = (manifest.get("recipe") or {}).get("holdout")
    if holdout and metrics.get("val"):
        frames = (manifest.get("data") or {}).get("val") or f"held out: the frames matching {holdout!r}"
        return {**metrics["val"], "frames": frames, "model": manifest.get("name")}  # as training described them
    return None


def headline(manifest):
    """The figure a model is known by, labelled with its split: ("cross-sequence", scores) when it has
    them (cross_sequence), else ("val", its validation scores), else (None, None)."""
    figure = cross_sequence(manifest)
    if figure:
        return "cross-sequence", figure
    val = (manifest.get("metrics") or {}).get("val")
    return ("val", val) if val else (None, None)


def resolve(name_or_path, directory=None):
    """Split a model name or a path to NAME.keras into (name, weights folder)."""
    path = Path(str(name_or_path))
    if path.suffix == MODEL_SUFFIX or len(path.parts) > 1:
        if path.suffix != MODEL_SUFFIX:
            raise ModelFileError(f"{path}: unsupported or unsafe model file (expected a .keras file)")
        return path.stem, path.parent.resolve()  # not path.resolve(): that would follow a symlink
    return str(name_or_path), weights_dir(directory)


def load(name_or_path, directory=None):
    """Load a model and its manifest safely.

    Only NAME.keras files inside the weights folder (no symlinks) are read, their
    manifest must list the class names and hold the file's SHA-256, which must match,
    Keras loads them with safe_mode=True (no Lambda layers, no arbitrary code) and
    compile=False, and the model's output must have one channel per class named in
    the manifest.

    Returns:
        (keras.Model, manifest dict)
    """

    name, folder = resolve(name_or_path, directory)
    model_path, manifest_path = model_paths(name, folder)
    if model_path.exists() and not model_path.is_file():  # e.g. a SavedModel folder named NAME.keras
        raise ModelFileError(f"{model_path.name}: unsupported or unsafe model file (not a file)")
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: no such model")
    manifest = read_manifest(name, folder)
    expected = manifest.get("sha256")
    if not expected:
        raise ModelFileError(f"{manifest_path.name}: no sha256 of the model file: save the model again")
    if sha256(model_path) != expected:
        raise ModelFileError(f"{model_path.name}: checksum does not match its manifest")
    model = load_keras(model_path)
    n_out = model.outputs[0].shape[-1]
    if n_out != len(manifest["classes"]):
        raise ModelFileError(f"{model_path.name}: model outputs {n_out} classes but its manifest "
                             f"names {len(manifest['classes'])}")
    return model, manifest


def load_keras(path):
    """keras.models.load_model with safe_mode, mapping every failure to one clear error."""
    import zipfile

    import keras

    from . import models  # noqa: F401  registers the custom layers (SegNet's unpooling, padding)

    path = Path(path)
    if path.suffix != MODEL_SUFFIX or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path.name}: unsupported or unsafe model file")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # keras raises many types for foreign or malicious files
        raise ModelFileError(f"{path.name}: unsupported or unsafe model file ({err.__class__.__name__}: "
                             f"{str(err).splitlines()[0][:200]})") from err


def without_optimizer(model):
    """The model itself, or an uncompiled copy when it carries optimizer state (3x the file size)."""
    import keras

    if getattr(model, "optimizer", None) is None:
        return model
    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def save(model, manifest, name, directory=None):
    """Save NAME.keras and NAME.json atomically into the weights folder.

    The model goes to a temporary file beside its destination and is loaded back with
    safe_mode to prove it is readable; the manifest, with the model's SHA-256, goes to a
    second temporary file. Only when both are complete on disk do they replace any previous
    files (os.replace, model first). A failure at any point before that leaves the previous
    model and manifest untouched and no temporary file behind.

    Returns:
        Path of the saved NAME.keras.
    """
    folder = weights_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    model_path, manifest_path = model_paths(name, folder)
    model_tmp, manifest_tmp = temporary(model_path), temporary(manifest_path)
    try:
        without_optimizer(model).save(model_tmp)
        load_keras(model_tmp)
        with open(manifest_tmp, "w") as f:
            json.dump({**manifest, "name": name, "sha256": sha256(model_tmp),
                       "size_bytes": os.path.getsize(model_tmp)}, f, indent=2)
            f.write("\n")
        for tmp in (model_tmp, manifest_tmp):
            sync(tmp)
            os.chmod(tmp, 0o644)
        # Only a crash between these two renames can pair the new model with the old
        # manifest, and load() then refuses it by its checksum rather than misreading it.
        os.replace(model_tmp, model_path)
        os.replace(manifest_tmp, manifest_path)
    finally:
        for tmp in (model_tmp, manifest_tmp):
            if os.path.exists(tmp):
                os.unlink(tmp)
    return model_path
