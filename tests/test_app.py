"""The app through its API, as a program uses it: gradio_client against the app served in this process.

conftest.app_url serves `demo` exactly as `python app.py` does, from a temporary weights folder
with the four CamVid models. Every named endpoint is called: segment (with an example's truth, a
truth mask given with the photo, and a photo unlike CamVid), sticker (whole class, largest region,
clicked region), compare, model_card, check_dataset, train and evaluate, plus the refusals (unknown
model names, files that are not images, paths the app must not serve) and the server log they leave.
"""
import io
import json
import re
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conftest import CONFIDENCE, EXAMPLE, REPO, uploads, zipped
from segdemo import cutout, data, files, infer, metrics, store, viz
from synthetic import write_folder

CAMVID_MODELS = ["camvid-fcn32s", "camvid-fcn16s", "camvid-fcn8s", "camvid-segnet"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SEGMENT_OUTPUTS = ("mask", "legend", "overlay", "maps", "heat", "heat_text", "info", "sticker_class", "hint",
                   "truth", "truth_legend", "error", "error_legend", "truth_score")  # /segment's, in order
ENDPOINTS = {"/segment", "/sticker", "/check_dataset", "/train", "/evaluate", "/compare", "/model_card"}


def read_png(path):
    """The pixels of a file that must be a PNG (checked by its signature, not its name), as shown: a palette
    PNG's colours (RGB), a 1-bit PNG as 0/255."""
    data = Path(path).read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG: starts with {data[:8]!r}"
    image = Image.open(io.BytesIO(data))
    return np.asarray(image.convert({"P": "RGB", "1": "L"}.get(image.mode, image.mode)))


def read_jpeg(path):
    """The pixels of a file that must be a JPEG (the pictures only for the eye: overlay and heatmap)."""
    data = Path(path).read_bytes()
    assert data.startswith(b"\xff\xd8\xff"), f"{path} is not a JPEG: starts with {data[:8]!r}"
    return np.asarray(Image.open(io.BytesIO(data)))


def legend_names(legend_html):
    """Class names listed by viz.legend_html, in order."""
    return re.findall(r'<span style="flex:1">([^<]*)</span>', legend_html)


@pytest.fixture(scope="module")
def client(app_url):
    """One client session (the sticker endpoint works on the session's last segmentation)."""
    return Client(app_url, verbose=False)


def named(outputs):
    """/segment's outputs by name (SEGMENT_OUTPUTS)."""
    assert len(outputs) == len(SEGMENT_OUTPUTS)
    return dict(zip(SEGMENT_OUTPUTS, outputs))


def labels_of(picture, palette):
    """The class indices of a picture painted with `palette` (colorize's inverse); -1 where no colour matches."""
    labels = np.full(picture.shape[:2], -1, np.int64)
    for i, colour in enumerate(np.asarray(palette, np.uint8)):
        labels[(picture == colour).all(axis=-1)] = i
    return labels


@pytest.fixture(scope="module")
def segmented(client):
    """The outputs of /segment on a CamVid example with camvid-fcn8s."""
    return client.predict(handle_file(str(EXAMPLE)), "camvid-fcn8s", 0.5, CONFIDENCE, api_name="/segment")


@pytest.fixture(scope="module")
def square_data(tmp_path_factory):
    """Synthetic 64x64 photos with binary 0/255 masks: (images dir, masks dir) for training, and zips of
    another such set for evaluation."""
    root = tmp_path_factory.mktemp("squares")
    train_images, train_masks = write_folder(root / "train", n=6, size=(64, 64), binary=True)
    eval_images, eval_masks = write_folder(root / "eval", n=4, size=(64, 64), binary=True, seed=1)
    return {"images": train_images, "masks": train_masks,
            "eval_images_zip": zipped(eval_images, root / "images.zip"),
            "eval_masks_zip": zipped(eval_masks, root / "masks.zip")}


@pytest.fixture(scope="module")
def trained(client, square_data):
    """/train on the synthetic folders (1 epoch, 3 steps): the endpoint's outputs."""
    return client.predict(uploads(square_data["images"]), uploads(square_data["masks"]), None, None,
                          "background, box", "", "fcn8s", "epochs", "none", 0.0625, 1, 2, "64", 1e-3, "ce", "none",
                          0.34, 3, "test-boxes", api_name="/train")


def test_served_like_python_app_py(app_url, app_module):
    demo = app_module.demo
    assert app_url.startswith("http://127.0.0.1:")  # this machine only, unless --host says otherwise
    assert demo.analytics_enabled is False
    assert demo.max_file_size == 200 * 1024 * 1024
    assert demo._queue.max_size == app_module.QUEUE_SIZE
    assert not demo.allowed_paths  # nothing beyond gradio's own uploads and outputs is served


def test_every_main_event_has_its_api_name(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert ENDPOINTS <= named


def test_segment_serves_a_png_mask_in_the_model_palette_and_a_legend(segmented, weights_dir):
    mask_path, legend, overlay_path, maps, heat_path, heat_text, info, sticker_class = segmented[:8]
    manifest = json.loads((weights_dir / "camvid-fcn8s.json").read_text())
    mask = read_png(mask_path)
    assert mask.shape == (360, 480, 3)
    colours = {tuple(c) for c in np.unique(mask.reshape(-1, 3), axis=0)}
    assert colours <= {tuple(c) for c in manifest["palette"]}, "mask colours must be exact palette colours"

    names = legend_names(legend)
    assert names and set(names) <= set(manifest["classes"])
    shares = [float(s) for s in re.findall(r"([0-9.]+)%</span>", legend)]
    assert len(shares) == len(names) and shares == sorted(shares, reverse=True)
    assert len(colours) == len(names), "one legend row per colour in the mask"

    assert [m["caption"].split(" · ")[0] for m in maps] == names  # binary maps: largest first
    for m in maps:
        assert set(np.unique(read_png(m["image"]))) <= {0, 255}
    assert read_jpeg(overlay_path).shape == (360, 480, 3)
    assert read_jpeg(heat_path).shape == (360, 480, 3)
    assert "Confidence" in heat_text
    assert "ms last run" in info and ("CPU" in info or "GPU" in info)
    assert sticker_class["value"] in names


def test_segment_shows_the_mask_legend_and_overlay_first_then_everything(app_url):
    job = Client(app_url, verbose=False).submit(handle_file(str(EXAMPLE)), "camvid-fcn8s", 0.5, CONFIDENCE,
                                                api_name="/segment")
    last = named(job.result())
    first, complete = (named(o) for o in job.outputs())  # every update the page gets, in order
    assert read_png(first["mask"]).tolist() == read_png(last["mask"]).tolist()
    assert first["legend"] == last["legend"] and read_jpeg(first["overlay"]).shape == (360, 480, 3)
    still_to_come = ("maps", "heat", "sticker_class", "truth", "error", "truth_score")
    assert all(first[k] == {"__type__": "update"} for k in still_to_come)  # no change yet: the last photo's stay
    assert all(complete[k] == last[k] for k in still_to_come) and last["maps"] and last["truth"]


def test_an_example_comes_with_its_truth_error_map_and_scores(segmented, weights_dir):
    out = named(segmented)
    manifest = json.loads((weights_dir / "camvid-fcn8s.json").read_text())
    classes, palette = manifest["classes"], manifest["palette"]
    truth = files.read_mask(REPO / "examples" / "truth" / EXAMPLE.name, 11, data.CAMVID_IGNORE)[0]
    pred = labels_of(read_png(out["mask"]), palette)
    assert (pred >= 0).all()

    shown = read_png(out["truth"])  # the truth in the model's palette, void black
    assert (shown == viz.colorize(truth, palette, ignore_index=data.CAMVID_IGNORE)).all()
    assert set(legend_names(out["truth_legend"])) == {classes[i] for i in np.unique(truth) if i < len(classes)}

    errors = labels_of(read_png(out["error"]), viz.ERROR_PALETTE)  # correct / wrong / void, nothing else
    void = truth == data.CAMVID_IGNORE
    assert (errors[void] == 2).all() and (errors[~void] == np.where(truth == pred, 0, 1)[~void]).all()
    assert legend_names(out["error_legend"])[0] in viz.ERROR_CLASSES

    cm = metrics.confusion_matrix(truth, pred, len(classes), ignore_index=data.CAMVID_IGNORE)
    scores = metrics.scores(cm, classes)
    text = out["truth_score"]
    assert f"mIoU **{metrics.format_score(scores['miou'], 3)}**" in text
    assert f"pixel accuracy **{metrics.format_score(scores['pixel_accuracy'], 3)}**" in text
    worst = max(((name, m) for name, m in metrics.mistaken_for(cm, classes).items() if m),
                key=lambda item: item[1]["share"])
    assert re.search(rf"\| {worst[0]} \| [0-9.]+ \| {worst[1]['as']} \(", text)  # what it was taken for
    assert not out["hint"]["value"] and out["hint"]["visible"] is False  # a CamVid frame: no low-confidence hint


def test_a_truth_mask_given_with_the_photo_is_scored_and_a_wrong_one_named(app_url, tmp_path):
    client = Client(app_url, verbose=False)  # its own session: the module's keeps the example's result
    photo = tmp_path / "my-street.png"  # not an example's name: only the given mask is its truth
    photo.write_bytes(EXAMPLE.read_bytes())
    plain = named(client.predict(handle_file(str(photo)), "camvid-fcn8s", 0.5, CONFIDENCE, api_name="/segment"))
    assert plain["truth"] is None and plain["error"] is None and "No truth for this photo" in plain["truth_score"]

    mask = tmp_path / "my-labels.png"
    mask.write_bytes((REPO / "examples" / "truth" / EXAMPLE.name).read_bytes())
    out = named(client.predict(handle_file(str(photo)), "camvid-fcn8s", 0.5, CONFIDENCE, handle_file(str(mask)),
                               api_name="/segment"))
    assert "against your truth mask" in out["truth_score"] and read_png(out["error"]).shape == (360, 480, 3)

    small = tmp_path / "small-labels.png"
    Image.fromarray(np.zeros((36, 48), np.uint8)).save(small)
    with pytest.raises(AppError, match=r"small-labels\.png: the truth mask is 48x36 but the photo is 480x360"):
        client.predict(handle_file(str(photo)), "camvid-fcn8s", 0.5, CONFIDENCE, handle_file(str(small)),
                       api_name="/segment")


def test_flip_tta_averages_the_photo_with_its_mirror(app_url, weights_dir):
    client = Client(app_url, verbose=False)  # its own session: the module's keeps the example's result
    out = named(client.predict(handle_file(str(EXAMPLE)), "camvid-fcn8s", 0.5, CONFIDENCE, None, True,
                               api_name="/segment"))
    palette = json.loads((weights_dir / "camvid-fcn8s.json").read_text())["palette"]
    shown = labels_of(read_png(out["mask"]), palette)
    rgb = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    flipped, plain = (infer.Segmenter.load("camvid-fcn8s", weights_dir, tta=tta).segment(rgb).labels
                      for tta in ("flip", "none"))
    agree_flip, agree_plain = np.mean(shown == flipped), np.mean(shown == plain)
    assert agree_flip >= 0.99 and agree_flip > agree_plain, (agree_flip, agree_plain)  # bfloat16 may differ a little
    assert "flip TTA" in out["info"]


def test_a_photo_unlike_camvid_gets_the_low_confidence_hint(app_url, tmp_path):
    from skimage import data as pictures

    astronaut = tmp_path / "astronaut.png"
    Image.fromarray(pictures.astronaut()).save(astronaut)
    out = named(Client(app_url, verbose=False).predict(handle_file(str(astronaut)), "camvid-fcn8s", 0.5, CONFIDENCE,
                                                       api_name="/segment"))
    assert "may be unlike anything camvid-fcn8s learned from" in out["hint"]["value"] and out["hint"]["visible"]


def test_sticker_is_an_rgba_png_with_a_transparent_background(client, segmented):
    names = legend_names(segmented[1])
    smallest = names[-1]
    preview_path, sticker_path = client.predict(smallest, 5, api_name="/sticker")
    assert Path(sticker_path).suffix == ".png" and smallest in Path(sticker_path).name
    rgba = read_png(sticker_path)
    assert rgba.ndim == 3 and rgba.shape[2] == 4
    alpha = rgba[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any() and set(np.unique(alpha)) <= {0, 255}
    assert (rgba[alpha == 0, :3] == 0).all()
    assert read_png(preview_path).shape[2] == 3  # shown on a checkerboard


def test_sticker_keeps_the_whole_class_or_its_largest_region(client, segmented, weights_dir):
    manifest = json.loads((weights_dir / "camvid-fcn8s.json").read_text())
    name = segmented[7]["value"]
    whole = labels_of(read_png(segmented[0]), manifest["palette"]) == manifest["classes"].index(name)
    for region, kept in (("whole class", whole), ("largest region", cutout.keep_region(whole, "largest"))):
        _, path = client.predict(name, 0, region, api_name="/sticker")
        assert (read_png(path)[..., 3] == 255).sum() == kept.sum() > 0, region  # the sticker's opaque pixels
    with pytest.raises(AppError, match="Click a pixel of"):  # a click is a UI event: test_browser clicks
        client.predict(name, 0, "region I click", api_name="/sticker")


def test_sticker_of_a_class_not_in_the_image_is_refused(app_url, tmp_path):
    # A plain grey image: a good model finds only a class or two in it, never all eleven.
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(grey)
    own = Client(app_url, verbose=False)
    outputs = own.predict(handle_file(str(grey)), "camvid-fcn8s", 0.5, CONFIDENCE, api_name="/segment")
    from segdemo.data import CAMVID_CLASSES

    absent = next(c for c in CAMVID_CLASSES if c not in legend_names(outputs[1]))
    with pytest.raises(AppError, match="not present"):
        own.predict(absent, 5, api_name="/sticker")


def test_sticker_needs_a_segmentation_in_the_same_session(app_url):
    with pytest.raises(AppError, match="Segment an image first"):
        Client(app_url, verbose=False).predict("Car", 5, api_name="/sticker")


@pytest.mark.parametrize("name", ["../../etc/passwd", "camvid-fcn8s.keras", "/tmp/x.keras", ""])
def test_a_model_that_is_not_listed_is_refused(client, name):
    with pytest.raises(AppError, match="Unknown model"):
        client.predict(handle_file(str(EXAMPLE)), name, 0.5, CONFIDENCE, api_name="/segment")
    if name:  # an empty model card picker just asks for a model
        with pytest.raises(AppError, match="Unknown model"):
            client.predict(name, api_name="/model_card")


def test_a_file_that_is_not_an_image_is_named_in_the_error(client, tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_text("not a picture")
    with pytest.raises(AppError, match=r"holiday\.png: not an image file"):
        client.predict(handle_file(str(fake)), "camvid-fcn8s", 0.5, CONFIDENCE, api_name="/segment")


def test_user_mistakes_leave_no_traceback_in_the_server_log(app_url, tmp_path, capfd):
    fake = tmp_path / "holiday.png"
    fake.write_text("not a picture")
    photo = handle_file(str(EXAMPLE))
    mistakes = [("/sticker", ["Car", 5], "Segment an image first"),  # first: this session has no result yet
                ("/segment", [handle_file(str(fake)), "camvid-fcn8s", 0.5, CONFIDENCE], "not an image file"),
                ("/segment", [photo, "no-such-model", 0.5, CONFIDENCE], "Unknown model"),
                ("/compare", [photo, [], "camvid-fcn8s"], "Tick at least one model"),
                ("/model_card", ["no-such-model"], "Unknown model"),
                ("/evaluate", ["camvid-fcn8s", None, None, None, None], "Upload the images")]
    own = Client(app_url, verbose=False)
    capfd.readouterr()  # the server runs in this process: its log is this test's output from here
    for api_name, args, message in mistakes:
        with pytest.raises(AppError, match=message):
            own.predict(*args, api_name=api_name)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, (out + err)[-3000:]


def test_weights_and_source_are_not_served(app_url, weights_dir):
    for path in (weights_dir / "camvid-fcn8s.keras", weights_dir / "camvid-fcn8s.json", REPO / "app.py",
                 REPO / "segdemo" / "store.py", EXAMPLE):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{app_url}gradio_api/file={path}")
        assert err.value.code == 403  # refused by gradio 6's file route (a 404 would be no such route)


def test_compare_runs_every_model_beside_the_truth_and_shows_the_fcn_stages(client, weights_dir):
    gallery, table, stages, legend = client.predict(handle_file(str(EXAMPLE)), CAMVID_MODELS, "camvid-fcn8s",
                                                    api_name="/compare")
    assert len(gallery) == 5
    assert [g["caption"].split(" · ")[0] for g in gallery] == [
        "Truth (CamVid labels)", "FCN-32s", "FCN-16s", "FCN-8s", "SegNet"]
    palette = json.loads((weights_dir / "camvid-fcn8s.json").read_text())["palette"]  # the four models' palette
    found = set()  # the classes of every mask shown, truth, models and stages: one legend for them all
    for k, item in enumerate(gallery + stages):
        labels = labels_of(read_png(item["image"]), palette)
        assert (labels >= 0).all() or k == 0  # the truth's void is black
        found |= {data.CAMVID_CLASSES[i] for i in np.unique(labels) if i >= 0}
    assert set(legend_names(legend)) == found
    for name in CAMVID_MODELS:
        assert f"| {name} |" in table
    assert len(re.findall(r"\d+ ms", table)) == 4
    assert [s["caption"].split(" ")[:2] for s in stages] == [["stride", "32"], ["stride", "16"], ["stride", "8"]]
    for item in gallery + stages:
        assert read_png(item["image"]).shape == (360, 480, 3)


def test_model_card_lists_layers_and_per_class_scores(client, weights_dir):
    text, layers, per_class = client.predict("camvid-segnet", api_name="/model_card")
    manifest = json.loads((weights_dir / "camvid-segnet.json").read_text())
    assert "SegNet" in text and f"{manifest['params']:,} parameters" in text
    assert layers["headers"] == ["layer", "type", "output shape", "params"]
    assert sum(row[3] for row in layers["data"]) == manifest["params"]
    assert layers["data"][0][2] == "224 x 224 x 3"
    assert [row[0] for row in per_class["data"]] == manifest["classes"]


def test_check_dataset_reports_on_folders_and_zips(client, square_data, tmp_path):
    # (The Start button it enables or disables is not part of the API: test_browser checks it.)
    report = client.predict(uploads(square_data["images"]), uploads(square_data["masks"]), None, None, "", "",
                            "auto", 0.34, api_name="/check_dataset")
    assert "Data set OK" in report and "0/255" in report and "Before you train" not in report
    report = client.predict(uploads(square_data["images"]), uploads(square_data["masks"]), None, None, "", "",
                            "128", 0.15, api_name="/check_dataset")  # 64x64 images, 1 of 6 to validate on
    before = report.split("**Before you train**")[1]
    assert "crop (128x128) is larger than some images" in before and "Only 1 image would be kept aside" in before

    masks = tmp_path / "masks"
    masks.mkdir()
    for p in sorted(square_data["masks"].iterdir())[1:]:
        (masks / p.name).write_bytes(p.read_bytes())
    Image.new("L", (32, 32)).save(masks / sorted(p.name for p in masks.iterdir())[0])
    report = client.predict(uploads(square_data["images"]), uploads(masks), None, None, "", "",
                            api_name="/check_dataset")
    assert "Data set has problems" in report and "mask is 32x32" in report and "have no mask" in report

    report = client.predict(None, None, handle_file(str(square_data["eval_images_zip"])),
                            handle_file(str(square_data["eval_masks_zip"])), "background, box", "",
                            api_name="/check_dataset")
    assert "Data set OK" in report and "| box |" in report

    report = client.predict(uploads(square_data["images"]), None, None, None, "", "", api_name="/check_dataset")
    assert "Upload the masks" in report
    report = client.predict(uploads(square_data["images"]), uploads(square_data["masks"]), None, None, "", "x",
                            api_name="/check_dataset")
    assert "void) label must be a whole number" in report


def test_training_saves_a_model_that_the_pickers_then_list(client, trained, weights_dir, app_module):
    status, loss_plot, miou_plot, samples, result, *pickers = trained  # (buttons are not in the API)
    assert "Saved **test-boxes**" in result and "val mIoU" in result
    assert "Finished: 1 epoch" in status and "from scratch" in result
    assert len(loss_plot["data"]) == 3  # one loss per step
    assert set(loss_plot["datatypes"].values()) == set(miou_plot["datatypes"].values()) == {"quantitative"}
    assert len(miou_plot["data"]) == 1  # one val mIoU per epoch
    assert len(samples) % 3 == 0 and samples[1]["caption"] == "truth"
    for picker in pickers[:4]:
        assert "test-boxes" in [value for _, value in picker["choices"]]
    assert "test-boxes" in [m["name"] for m in store.list_models(weights_dir)]
    model, _ = store.load("test-boxes", weights_dir)  # width 0.0625: fc6/fc7 get 4096 x 0.0625, scaled once
    assert model.get_layer("fc6").filters == model.get_layer("fc7").filters == 256
    # A new session (no picker refresh) may use it at once: the server lists the folder itself.
    out = Client(client.src, verbose=False).predict(handle_file(str(sorted(Path(
        app_module.EXAMPLES_DIR).glob("*.png"))[0])), "test-boxes", 0.5, CONFIDENCE, api_name="/segment")
    assert set(legend_names(out[1])) <= {"background", "box"}


def test_training_refuses_bad_names_and_foreign_models(client, square_data, trained):
    args = [uploads(square_data["images"]), uploads(square_data["masks"]), None, None, "", "", "fcn8s", "epochs",
            "none", 0.0625, 1, 2, "64", 1e-3, "ce", "none", 0.34, 1]
    with pytest.raises(AppError, match="invalid model name"):
        client.predict(*args, "../evil", api_name="/train")
    with pytest.raises(AppError, match="already exists and was not trained here"):
        client.predict(*args, "camvid-fcn8s", api_name="/train")
    args[8] = "camvid-fcn8s"  # a head start from a width-0.25 encoder at width 0.0625
    with pytest.raises(AppError, match="camvid-fcn8s has an encoder of width 0.25, not 0.0625"):
        client.predict(*args, "wrong-width", api_name="/train")


def test_evaluate_scores_a_model_on_zipped_folders(client, square_data, trained):
    summary, table, plot, worst = client.predict(
        "test-boxes", None, None, handle_file(str(square_data["eval_images_zip"])),
        handle_file(str(square_data["eval_masks_zip"])), api_name="/evaluate")
    assert "**test-boxes** on 4 images" in summary and "mIoU" in summary
    assert [row[0] for row in table["data"]] == ["background", "box"]
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png;base64,")
    assert len(worst) == 9  # the 3 hardest images: photo, truth, prediction
    assert [w["caption"] for w in worst[1::3]] == ["truth (black: void)"] * 3
    mious = [float(w["caption"].split(" · ")[0].removeprefix("mIoU ")) for w in worst[::3]]
    assert mious == sorted(mious)


def test_evaluate_with_flip_tta_scores_the_mirrored_photos_too(client):
    frames = sorted((REPO / "examples").glob("*.png"))[:2]
    photos, masks = ([handle_file(str(folder / f.name)) for f in frames]
                     for folder in (REPO / "examples", REPO / "examples" / "truth"))
    plain, flipped = (client.predict("camvid-fcn8s", photos, masks, None, None, tta, api_name="/evaluate")[0]
                      for tta in ("none", "flip"))
    assert "**camvid-fcn8s** on 2 images" in flipped and ", flip TTA)" in flipped and "TTA" not in plain
    assert plain.split("\n\n", 1)[1] != flipped.split("\n\n", 1)[1]  # the scores themselves differ


def test_evaluate_offers_every_test_time_augmentation():
    from segdemo.ui.evaluate import TTA_CHOICES
    assert list(TTA_CHOICES) == list(infer.TTA)


def test_evaluate_refuses_masks_with_labels_the_model_does_not_have(client, tmp_path):
    images, masks = write_folder(tmp_path / "data", n=2, size=(64, 64))
    masks_with_label(masks, 200)
    with pytest.raises(AppError, match="does not fit the model.*labels out of range"):
        client.predict("camvid-fcn8s", uploads(images), uploads(masks), None, None, api_name="/evaluate")


def test_errors_name_the_users_files_never_a_temporary_folder(client, tmp_path):
    images, masks = write_folder(tmp_path / "data", n=2, size=(64, 64))
    masks_with_label(masks, 200)
    loose = tmp_path / "loose-masks.zip"  # a zip of files, no folder inside
    with zipfile.ZipFile(loose, "w") as z:
        for p in sorted(masks.iterdir()):
            z.write(p, p.name)
    for args, shown in (([uploads(images), uploads(masks), None, None], "masks/frame_000.png"),
                        ([uploads(images), None, None, handle_file(str(loose))], "loose-masks.zip/frame_000.png")):
        with pytest.raises(AppError) as err:
            client.predict("camvid-fcn8s", *args, api_name="/evaluate")
        message = str(err.value)
        assert shown in message and "segdemo-" not in message and "/tmp" not in message, message


def masks_with_label(folder, label):
    """The folder with one pixel of every mask set to `label`."""
    for p in Path(folder).iterdir():
        mask = np.asarray(Image.open(p)).copy()
        mask[0, 0] = label
        Image.fromarray(mask).save(p)
    return folder
