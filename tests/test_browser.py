"""The app in a real headless browser (Playwright driving Debian's chromium), as a teacher uses it.

Segment tab: click an example, see the mask, legend and binary maps, pick a sticker class and
download the sticker (an RGBA PNG with a transparent background). Compare tab: every model
and the FCN stages. Train tab: upload zips, the check enables Start, train, see the new model
in the Segment picker; then evaluate it. What the network sees (issue 11): an example's truth, error
map and scores, a pixel probe, a clicked sticker region, the hint for a photo unlike CamVid, one
message for a bad upload, and every tab one tap away on a phone. Screenshots of every tab, at 1280x800
and at phone width (390x844), go to a temporary folder; `pytest tests/test_browser.py --screenshots screenshots`
refreshes the README's (see conftest.screenshots).

Never downloads a browser: without /usr/bin/chromium (apt-get install chromium) these tests skip.
"""
import io
import re

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image
from skimage import data as pictures

from conftest import CONFIDENCE, EXAMPLE, SLOW, fill_training_form, pick, upload_training_zips, wait_idle, zipped
from segdemo import store
from synthetic import write_folder

PHONE = {"width": 390, "height": 844}


def shoot(page, folder, name, viewport=False):
    """Save the full page as FOLDER/NAME.png, and with viewport=True also what fits the window
    (the first impression) as NAME-window.png."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    if viewport:
        page.screenshot(path=folder / f"{name}-window.png")
    page.screenshot(path=folder / f"{name}.png", full_page=True)


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


def legend_rows(page, selector="#legend"):
    """(class, share %) rows of a legend (viz.legend_html; by default the Segment tab's)."""
    rows = []
    for row in page.locator(f"{selector} .segdemo-legend > div").all():
        spans = row.locator("span").all_inner_texts()
        rows.append((spans[1].strip(), float(spans[2].strip().rstrip("%"))))
    return rows


def test_segment_an_example_and_download_a_sticker(page, tmp_path, screenshots):
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

    shoot(page, screenshots, "segment-desktop", viewport=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    load_all_images(page)
    shoot(page, screenshots, "segment-phone", viewport=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_compare_every_model_and_look_inside(page, screenshots):
    page.get_by_role("tab", name="Compare & look inside").click()
    page.locator("#compare-button").click()
    page.wait_for_function("() => document.querySelectorAll('#compare-gallery img').length >= 4")
    page.wait_for_function("() => document.querySelectorAll('#stages img').length >= 3")
    captions = page.locator("#stages").inner_text()
    assert "stride 32" in captions and "stride 16" in captions and "stride 8" in captions
    page.get_by_text("Layers (output shapes").wait_for()
    load_all_images(page)
    shoot(page, screenshots, "compare-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    load_all_images(page)
    shoot(page, screenshots, "compare-phone")


def test_train_then_segment_and_evaluate_with_the_new_model(page, tmp_path, screenshots):
    images, masks = write_folder(tmp_path / "data", n=6, size=(64, 64), binary=True)
    image_zip, mask_zip = zipped(images, tmp_path / "images.zip"), zipped(masks, tmp_path / "masks.zip")
    page.get_by_role("tab", name="Train").click()
    assert page.locator("#start").is_disabled()
    fill_training_form(page, image_zip, mask_zip, epochs=2, steps=3, name="browser-boxes")
    page.get_by_text("Data set OK").wait_for()  # checked as soon as both were uploaded
    page.locator("#start").click()
    page.get_by_text("Saved browser-boxes").wait_for(timeout=3 * SLOW)
    assert "Finished: 2 epochs" in page.locator("#train-status").inner_text()
    page.wait_for_function("() => document.querySelectorAll('#train-samples img').length >= 3")
    load_all_images(page)
    shoot(page, screenshots, "train-desktop")

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
    shoot(page, screenshots, "evaluate-desktop")


def test_stop_keeps_the_best_epoch_so_far(page, tmp_path, weights_dir):
    images, masks = write_folder(tmp_path / "data", n=6, size=(64, 64), binary=True)
    fill_training_form(page, zipped(images, tmp_path / "i.zip"), zipped(masks, tmp_path / "m.zip"), epochs=50,
                       steps=20, name="browser-stopped")
    page.locator("#start").click()
    page.get_by_text("best val mIoU").wait_for(timeout=3 * SLOW)  # an epoch has been validated
    page.locator("#stop").click()
    page.get_by_text("Saved browser-stopped").wait_for(timeout=3 * SLOW)
    status = page.locator("#train-status").inner_text()
    ran = re.match(r"Stopped \(stopped by the user\): (\d+) epochs? in ", status)
    assert ran and 1 <= int(ran.group(1)) < 50, status  # stopped long before the 50 epochs planned
    run = store.read_manifest("browser-stopped", weights_dir)
    assert run["training"]["epochs_run"] == int(ran.group(1)) and run["training"]["stopped_early"]
    best = max(run["training"]["history"], key=lambda h: h["val_miou"] or 0)
    assert run["metrics"]["epoch"] == best["epoch"]  # the best epoch so far is the one saved
    assert not page.locator("#start").is_disabled() and page.locator("#stop").is_disabled()


def test_twelve_shapes_in_one_minute_with_the_defaults(page, tmp_path, weights_dir):
    """12 colour 128x128 images of shapes, everything left at its default but a 1-minute budget."""
    images, masks = write_folder(tmp_path / "data", n=12, size=(128, 128))
    upload_training_zips(page, zipped(images, tmp_path / "i.zip"), zipped(masks, tmp_path / "m.zip"))
    assert "Before you train" not in page.locator("#report").inner_text()  # nothing to warn about
    page.get_by_label("1 min").check()
    page.locator("#model-name textarea, #model-name input").first.fill("browser-shapes")
    page.locator("#start").click()
    page.get_by_text("Saved browser-shapes").wait_for(timeout=3 * SLOW)
    status = page.locator("#train-status").inner_text()
    assert status.startswith("Finished (the time budget of 1 min is spent)"), status
    run = store.read_manifest("browser-shapes", weights_dir)
    assert run["recipe"]["crop"] == [128, 128] and run["recipe"]["minutes"] == 1
    assert 60 <= run["training"]["seconds"] < 75, run["training"]["seconds"]
    # It learned the shapes (labelling every pixel background scores 0.27). Issue 9's 0.8 is a benchmark
    # figure, not a test: within a time budget the score depends on the machine (README, "Small data sets").
    print(f"val mIoU {run['metrics']['val']['miou']:.3f} after {run['training']['seconds']:.0f} s")  # pytest -rP
    assert run["metrics"]["val"]["miou"] >= 0.5, run["metrics"]["val"]["miou"]


# ----------------------------------------------------------------------------- issue 11: what the network sees

REVIEW_DESKTOP = {"width": 1280, "height": 900}
TABS = {"Segment": "#segment-button", "Live": "#clip-button", "Compare & look inside": "#compare-button",
        "Train": "#start", "Evaluate": "#eval-button"}  # each tab, and something only that tab shows


def click_example(page, n):
    """Click the n-th example of the Segment tab and wait for its mask."""
    before = image_src(page, "#mask")
    page.locator("#seg-examples button").filter(has=page.locator("img")).nth(n).click()
    wait_new_image(page, "#mask", before)


def click_image(page, selector, fx, fy):
    """Click the picture in selector at a fraction (fx, fy) of its width and height (scrolled into view)."""
    picture = page.locator(f"{selector} img").first
    box = picture.bounding_box()
    picture.click(position={"x": fx * box["width"], "y": fy * box["height"]})


def test_an_example_shows_its_truth_error_map_scores_and_a_pixel_probe(page, app_url, screenshots):
    page.set_viewport_size(REVIEW_DESKTOP)
    click_example(page, 2)  # EXAMPLE, the third frame
    wait_new_image(page, "#truth", "")
    wait_new_image(page, "#error-map", "")
    assert {r[0] for r in legend_rows(page, "#error-legend")} <= {"correct", "wrong", "void (not scored)"}
    score = page.locator("#truth-score")
    score.get_by_text("pixel accuracy").wait_for()
    shown = re.search(r"mIoU (0\.\d{3}) · pixel accuracy (0\.\d{3})", score.inner_text())
    api = Client(app_url, verbose=False).predict(handle_file(str(EXAMPLE)), "camvid-fcn8s", 0.5, CONFIDENCE,
                                                api_name="/segment")[13]  # the same frame's scores, by the API
    assert shown and f"mIoU **{shown.group(1)}** · pixel accuracy **{shown.group(2)}**" in api
    assert "most often taken for" in score.inner_text()
    wait_new_image(page, "#sticker", "")

    click_image(page, "#mask", 0.5, 0.8)  # the road, low in the frame
    page.locator("#probe img").wait_for()
    probe = page.locator("#probe-text").inner_text()
    assert re.search(r"Pixel x=\d+, y=\d+: the model says \w+ \([01]\.\d\d\); the truth is \w+", probe), probe
    shoot(page, screenshots, "review-segment-desktop", viewport=True)

    page.get_by_label("region I click").check()  # the sticker keeps the clicked region of the clicked class
    before = image_src(page, "#sticker")
    click_image(page, "#overlay", 0.5, 0.8)
    wait_new_image(page, "#sticker", before)
    clicked = re.search(r"the model says (\w+)", page.locator("#probe-text").inner_text()).group(1)
    assert page.locator("#sticker-class input").input_value() == clicked

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)
    load_all_images(page)
    shoot(page, screenshots, "review-segment-phone", viewport=True)


def test_ticking_flip_tta_segments_the_photo_again_with_its_mirror(page):
    click_example(page, 2)
    assert "flip TTA" not in page.locator("#seg-info").inner_text()
    before = image_src(page, "#mask")
    page.locator("#seg-flip input").check()
    page.locator("#seg-info").get_by_text("flip TTA").wait_for()
    wait_new_image(page, "#mask", before)


def test_a_photo_unlike_camvid_gets_the_class_list_and_the_hint(page, tmp_path):
    astronaut = tmp_path / "astronaut.png"
    Image.fromarray(pictures.astronaut()).save(astronaut)
    assert "camvid-fcn8s knows 11 classes: Sky, Building" in page.locator("#seg-knows").inner_text()
    page.locator("#photo input[type=file]").set_input_files(str(astronaut))
    page.locator("#seg-hint").get_by_text("may be unlike anything camvid-fcn8s learned from").wait_for()
    assert "No truth for this photo" in page.locator("#truth-score").inner_text()


def test_a_bad_upload_is_one_message_not_a_badge_on_every_panel(page, tmp_path):
    fake = tmp_path / "holiday.png"
    fake.write_text("not a picture")
    page.locator("#photo input[type=file]").set_input_files(str(fake))
    page.get_by_text("holiday.png: not an image file").first.wait_for()  # the message, once
    page.wait_for_timeout(500)  # (badges would come with it)
    assert page.locator("[data-testid=status-tracker] span.error:visible").count() == 0


def test_every_tab_is_one_tap_away_on_a_phone(browser, app_url):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    page.goto(app_url)
    wait_idle(page)
    try:
        for name, content in TABS.items():
            page.get_by_role("tab", name=name, exact=True).click(timeout=5000)  # none behind a "..." menu
            page.locator(content).wait_for(state="visible")
        page.get_by_role("tab", name="Segment", exact=True).click()
        # The model's name stops before the dropdown's arrow.
        text_end, arrow = page.evaluate("""() => {
            const input = document.querySelector('#seg-model input');
            const icon = document.querySelector('#seg-model .icon-wrap');
            return [input.getBoundingClientRect().right - parseFloat(getComputedStyle(input).paddingRight),
                    icon.getBoundingClientRect().left]; }""")
        assert text_end <= arrow, f"the name runs to {text_end:.0f} px, the arrow starts at {arrow:.0f} px"
    finally:
        context.close()
