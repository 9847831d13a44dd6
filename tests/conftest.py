"""Shared fixtures and helpers (test modules import helpers from here, never from each other).

tiny_weights, synthetic_folder: a tiny synthetic model and folder for the core tests.
weights_dir, app_module, app_url: for the app tests (test_app.py, test_browser.py), a weights
folder with the four CamVid models and the app served from it. The app tests never touch the
real weights/ folder: the session's folder is a temporary copy of the shipped models, and when
a shipped model is missing (e.g. before the long trainings have finished) a tiny one of the
same name is trained in a few seconds on CamVid's val split instead.
browser, page, screenshots: headless chromium on the app (its webcam a fake playing fake_camera, a .y4m
of the example frames), and where its screenshots go: a temporary
folder, unless `pytest tests/test_browser.py --screenshots screenshots` refreshes the README's.
main (the CLI in this process), copy_of_tiny (a private copy of tiny_weights).
Helpers: noise_photo, run_cli, zipped, uploads, save_image, raw_png, png_declaring, pick, upload_training_zips,
fill_training_form, wait_idle.
"""
import io
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from PIL import Image

from segdemo import video
from synthetic import write_folder

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "weights"
CAMVID = REPO.parent / "shared" / "camvid"
SHIPPED_NAMES = ("camvid-fcn32s", "camvid-fcn16s", "camvid-fcn8s", "camvid-segnet")
TINY_STEPS = {"fcn8s": 30}  # enough for FCN-8s to tell road, sky and buildings apart; others: 6
EXAMPLE = REPO / "examples" / "0016E5_08049.png"
CONFIDENCE = "confidence (max softmax)"  # the Segment tab's first heat map kind
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
SLOW = 60_000  # ms: model runs and training on a busy 2-core machine
SYNTHETIC_CLASSES = ["background", "box", "disc"]  # the classes of synthetic.write_folder's masks


def pytest_addoption(parser):
    parser.addoption("--screenshots", metavar="DIR", default=None,
                     help="save the browser tests' screenshots in DIR (e.g. screenshots, to refresh the "
                          "README's); default: a temporary folder")


# ----------------------------------------------------------------------------- plain helpers


def run_cli(*args, weights=None, timeout=300):
    """python -m segdemo ARGS in a subprocess (SEGDEMO_WEIGHTS=weights if given): a CompletedProcess."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if weights:
        env["SEGDEMO_WEIGHTS"] = str(weights)
    return subprocess.run([sys.executable, "-m", "segdemo", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout)


def zipped(folder, path):
    """A zip of a folder's files, inside a subfolder as people zip folders; returns str(path)."""
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(Path(folder).iterdir()):
            z.write(f, f"{Path(folder).name}/{f.name}")
    return str(path)


def uploads(folder):
    """A folder upload as the browser sends it: every file of the folder, for gradio_client."""
    from gradio_client import handle_file

    return [handle_file(str(p)) for p in sorted(Path(folder).iterdir())]


def save_image(img, path, **kwargs):
    """Save a PIL image and return the path."""
    img.save(path, **kwargs)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width, height, bit_depth, color_type, rows: bytes) -> bytes:
    """A PNG built by hand (for 16-bit colour, which Pillow cannot write)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def png_declaring(width, height) -> bytes:
    """A real 1x1 PNG whose IHDR is patched to declare width x height (CRC fixed)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def noise_photo(tmp_path):
    """A small RGB noise image on disk."""
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
    return path


def wait_idle(page):
    """Wait until the page is built (every component's code loaded) and no event is pending."""
    page.wait_for_selector("#photo")
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=status-tracker]')]
                                     .every(e => e.classList.contains('hide'))""")


def pick(page, dropdown_id, option):
    """Choose an option of a gr.Dropdown by its label."""
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def upload_training_zips(page, image_zip, mask_zip):
    """In the Train tab: upload zips and wait for the check to enable Start."""
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("tab", name="Zip files").first.click()
    page.locator("#train-image-zip input[type=file]").set_input_files(image_zip)
    page.locator("#train-mask-zip input[type=file]").set_input_files(mask_zip)
    page.wait_for_function("() => !document.querySelector('#start').disabled")


def fill_training_form(page, image_zip, mask_zip, epochs, steps, name=None):
    """upload_training_zips, then a tiny recipe in epochs (width 0.0625, batch 2, crop 64) under Advanced."""
    upload_training_zips(page, image_zip, mask_zip)
    page.get_by_label("Epochs (set under Advanced)").check()
    page.locator("#advanced").get_by_text("Advanced").first.click()
    pick(page, "width", "0.0625")
    pick(page, "crop", "64 px")
    page.locator("#epochs input").fill(str(epochs))
    page.locator("#steps input").fill(str(steps))
    page.locator("#batch-size input").fill("2")
    if name:
        page.locator("#model-name textarea, #model-name input").first.fill(name)


# ----------------------------------------------------------------------------- fixtures


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


@pytest.fixture
def main(monkeypatch, capsys):
    """The CLI in this process: main(*args) -> (exit code, stdout, stderr); signal handlers untouched."""
    import signal

    from segdemo import cli

    monkeypatch.setattr(signal, "signal", lambda *args: None)

    def call(*args):
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


@pytest.fixture
def copy_of_tiny(tiny_weights, tmp_path):
    """A private copy of the tiny weights folder: (folder, sha256 of tiny.keras)."""
    from segdemo import store

    folder = tmp_path / "weights"
    folder.mkdir()
    for name in ("tiny.keras", "tiny.json"):
        shutil.copy(tiny_weights / name, folder / name)
    return folder, store.sha256(folder / "tiny.keras")


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory):
    """A looping .y4m of the CamVid example frames, for Chromium's fake webcam."""
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((REPO / "examples").glob("*.png"))]
    return video.write_y4m(tmp_path_factory.mktemp("camera") / "street.y4m", frames)


@pytest.fixture(scope="session")
def browser(fake_camera):
    """Chromium from the system, never a downloaded one, its webcam a fake playing `fake_camera`;
    skip loudly when there is none."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"!!! BROWSER TESTS SKIPPED: no chromium at {CHROMIUM}. Install Debian's chromium "
                    f"(apt-get install -y chromium); these tests never download a browser. !!!")
    camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={fake_camera}"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + camera)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh page at desktop size with the app loaded."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto(app_url)
    wait_idle(page)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory):
    """Where the browser tests save screenshots: --screenshots DIR, else a temporary folder (never the
    tracked screenshots/ folder by accident)."""
    chosen = request.config.getoption("--screenshots")
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
