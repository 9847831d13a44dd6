"""The app in a real headless browser (Playwright driving Debian's chromium), as a teacher uses it.

Segment tab: click an example, see the mask, legend and binary maps, pick a sticker class and
download the sticker (an RGBA PNG with a transparent background). Compare tab: every model
and the FCN stages. Train tab: upload zips, the check enables Start, train, see the new model
in the Segment picker; then evaluate it. Screenshots of every tab go to screenshots/ at
1280x800 and at phone width (390x844), to be looked at.

Never downloads a browser: without /usr/bin/chromium (apt-get install chromium) these tests skip.
"""
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthetic import write_folder

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SLOW = 60_000  # ms: model runs and training on a busy 2-core machine


@pytest.fixture(scope="module")
def browser():
    """Chromium from the system, never a downloaded one; skip loudly when there is none."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"!!! BROWSER TESTS SKIPPED: no chromium at {CHROMIUM}. Install Debian's chromium "
                    f"(apt-get install -y chromium); these tests never download a browser. !!!")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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


def wait_idle(page):
    """Wait until the page is built (every component's code loaded) and no event is pending."""
    page.wait_for_selector("#photo")
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=status-tracker]')]
                                     .every(e => e.classList.contains('hide'))""")


def shoot(page, name, viewport=False):
    """Save the full page as screenshots/NAME.png, and with viewport=True also what fits the window
    (the first impression) as NAME-window.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    if viewport:
        page.screenshot(path=SCREENSHOTS / f"{name}-window.png")
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def load_all_images(page):
    """Scroll through the page so that lazily loaded images are there for a full-page screenshot."""
    height = page.evaluate("document.body.scrollHeight")
    for y in range(0, height, 400):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(60)
    page.wait_for_function("""() => [...document.images].every(
        i => i.offsetParent === null || (i.complete && i.naturalWidth > 0))""")  # visible ones: loaded


def image_src(page, selector):
    """The src of the first img inside selector ('' when there is none)."""
    images = page.locator(f"{selector} img")
    return images.first.get_attribute("src") if images.count() else ""


def wait_new_image(page, selector, old_src):
    """Wait until selector shows (loaded, not broken) an image other than old_src."""
    page.locator(selector).scroll_into_view_if_needed()  # images load lazily
    page.wait_for_function(
        """([sel, old]) => { const i = document.querySelector(sel + ' img');
                             return i && i.getAttribute('src') && i.getAttribute('src') !== old
                                    && i.complete && i.naturalWidth > 0; }""",
        arg=[selector, old_src or ""])


def pick(page, dropdown_id, option):
    """Choose an option of a gr.Dropdown by its label."""
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def legend_rows(page):
    """(class, share %) rows of the legend."""
    rows = []
    for row in page.locator("#legend .segdemo-legend > div").all():
        spans = row.locator("span").all_inner_texts()
        rows.append((spans[1].strip(), float(spans[2].strip().rstrip("%"))))
    return rows


def test_segment_an_example_and_download_a_sticker(page, tmp_path):
    page.locator("#seg-examples button").filter(has=page.locator("img")).nth(2).click()
    wait_new_image(page, "#mask", "")
    page.wait_for_selector("#legend .segdemo-legend > div")
    rows = legend_rows(page)
    assert rows and all(share > 0 for _, share in rows)
    assert [s for _, s in rows] == sorted((s for _, s in rows), reverse=True)
    page.wait_for_function("n => document.querySelectorAll('#binary-maps img').length >= n", arg=len(rows))
    assert page.locator("#binary-maps img").count() == len(rows)
    assert "ms last run" in page.locator("#seg-info").inner_text()
    wait_new_image(page, "#overlay", "")
    wait_new_image(page, "#confidence", "")
    wait_new_image(page, "#sticker", "")  # the default class's sticker follows the segmentation

    # Opacity and the confidence view re-draw from the last result: no model run (same timing badge).
    badge = page.locator("#seg-info").inner_text()
    before = image_src(page, "#overlay")
    page.locator("#opacity input[type=number]").fill("0.9")
    page.locator("#opacity input[type=number]").press("Enter")
    wait_new_image(page, "#overlay", before)
    before = image_src(page, "#confidence")
    page.get_by_label("uncertainty (entropy)").check()
    wait_new_image(page, "#confidence", before)
    page.get_by_text("Uncertainty: bright = unsure").wait_for()
    assert page.locator("#seg-info").inner_text() == badge

    smallest = rows[-1][0]
    before = image_src(page, "#sticker")
    pick(page, "sticker-class", smallest)
    wait_new_image(page, "#sticker", before)
    with page.expect_download() as download:
        page.locator("#sticker-download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".png" and smallest in saved.name
    data = saved.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    sticker = Image.open(io.BytesIO(data))
    assert sticker.mode == "RGBA"
    alpha = np.asarray(sticker)[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any()

    shoot(page, "segment-desktop", viewport=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    load_all_images(page)
    shoot(page, "segment-phone", viewport=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_compare_every_model_and_look_inside(page):
    page.get_by_role("tab", name="Compare & look inside").click()
    page.locator("#compare-button").click()
    page.wait_for_function("() => document.querySelectorAll('#compare-gallery img').length >= 4")
    page.wait_for_function("() => document.querySelectorAll('#stages img').length >= 3")
    captions = page.locator("#stages").inner_text()
    assert "stride 32" in captions and "stride 16" in captions and "stride 8" in captions
    page.get_by_text("Layers (output shapes").wait_for()
    load_all_images(page)
    shoot(page, "compare-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    load_all_images(page)
    shoot(page, "compare-phone")


def zipped(folder, path):
    """A zip of a folder's files, inside a subfolder as people zip folders."""
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(Path(folder).iterdir()):
            z.write(f, f"{Path(folder).name}/{f.name}")
    return str(path)


def test_train_then_segment_and_evaluate_with_the_new_model(page, tmp_path):
    images, masks = write_folder(tmp_path / "data", n=6, size=(64, 64), binary=True)
    image_zip, mask_zip = zipped(images, tmp_path / "images.zip"), zipped(masks, tmp_path / "masks.zip")
    page.get_by_role("tab", name="Train").click()
    assert page.locator("#start").is_disabled()
    page.get_by_role("tab", name="Zip files").first.click()
    page.locator("#train-image-zip input[type=file]").set_input_files(image_zip)
    page.locator("#train-mask-zip input[type=file]").set_input_files(mask_zip)
    page.get_by_text("Data set OK").wait_for()  # checked as soon as both are uploaded
    page.wait_for_function("() => !document.querySelector('#start').disabled")
    page.locator("#epochs input").fill("2")
    page.locator("#steps input").fill("3")
    page.locator("#batch-size input").fill("2")
    page.locator("#crop input[type=number]").fill("64")
    page.locator("#crop input[type=number]").press("Enter")
    page.locator("#model-name textarea, #model-name input").first.fill("browser-boxes")
    page.locator("#start").click()
    page.get_by_text("Saved browser-boxes").wait_for(timeout=3 * SLOW)
    assert "Finished: 2 epochs" in page.locator("#train-status").inner_text()
    page.wait_for_function("() => document.querySelectorAll('#train-samples img').length >= 3")
    load_all_images(page)
    shoot(page, "train-desktop")

    page.get_by_role("tab", name="Segment").click()
    page.locator("#seg-model input").click()
    assert page.get_by_role("option", name="browser-boxes", exact=False).count() == 1

    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-model input").click()
    page.get_by_role("option", name="browser-boxes", exact=False).click()
    page.get_by_role("tab", name="Zip files").last.click()
    page.locator("#eval-image-zip input[type=file]").set_input_files(image_zip)
    page.locator("#eval-mask-zip input[type=file]").set_input_files(mask_zip)
    page.locator("#eval-button").click()
    page.get_by_text("browser-boxes on 6 images").wait_for()
    page.wait_for_function("() => document.querySelectorAll('#eval-worst img').length >= 9")
    page.locator("#eval-plot img").wait_for()
    load_all_images(page)
    shoot(page, "evaluate-desktop")


def test_stop_keeps_the_best_epoch_so_far(page, tmp_path):
    images, masks = write_folder(tmp_path / "data", n=6, size=(64, 64), binary=True)
    page.get_by_role("tab", name="Train").click()
    page.get_by_role("tab", name="Zip files").first.click()
    page.locator("#train-image-zip input[type=file]").set_input_files(zipped(images, tmp_path / "i.zip"))
    page.locator("#train-mask-zip input[type=file]").set_input_files(zipped(masks, tmp_path / "m.zip"))
    page.wait_for_function("() => !document.querySelector('#start').disabled")
    page.locator("#epochs input").fill("50")
    page.locator("#steps input").fill("20")
    page.locator("#batch-size input").fill("2")
    page.locator("#crop input[type=number]").fill("64")
    page.locator("#crop input[type=number]").press("Enter")
    page.locator("#model-name textarea, #model-name input").first.fill("browser-stopped")
    page.locator("#start").click()
    page.get_by_text("best val mIoU").wait_for(timeout=3 * SLOW)  # an epoch has been validated
    page.locator("#stop").click()
    page.get_by_text("Saved browser-stopped").wait_for(timeout=3 * SLOW)
    status = page.locator("#train-status").inner_text()
    assert status.startswith("Stopped: ") and "of 50" not in status
    assert not page.locator("#start").is_disabled() and page.locator("#stop").is_disabled()
