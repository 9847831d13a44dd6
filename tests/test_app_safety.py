"""What the app's server refuses, each case sent as an attacker or a careless program would send it.

Uploads over the size limit (as a file and as a base64 data URL in a JSON call), files the app
never served or that were never uploaded, traffic monitoring, model names the pickers do not list
(in every endpoint that takes a model), and a second training requested while one runs: it waits
in the queue, the page says so, and both models are saved. The app is the one conftest.app_url
serves, as `python app.py` serves it; the page test needs chromium (see test_browser.py).

Each test failed when its protection was removed: max_file_size, the BodySizeLimit middleware,
enable_monitoring=False, gradio's file checks (allowed_paths=["/"]; its upload-folder check patched
out), checked_model (for the compare list also gradio's CheckboxGroup check), the sticker's class
check, and the train event's concurrency_limit=1. The /file= requests (no such route since gradio
4) stay as a guard against an alias coming back.
"""
import base64
import http.client
import json
import re
import socket
import time
import urllib.parse

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from conftest import CONFIDENCE, EXAMPLE, REPO, SLOW, fill_training_form, uploads, zipped
from segdemo import store
from segdemo import train as training
from synthetic import write_folder

CHUNK = 1 << 20  # bytes sent at a time by the streaming uploads: the test never holds a big body
UNLISTED = ["../../etc/passwd", "camvid-fcn8s.keras", "not-a-model", "CAMVID-FCN8S"]


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """(images dir, masks dir): six synthetic 64x64 photos with 0/255 masks, for quick trainings."""
    return write_folder(tmp_path_factory.mktemp("queue") / "data", n=6, size=(64, 64), binary=True)


def train_args(data, name, epochs, steps):
    """/train arguments for a tiny FCN-8s on `data` (folders)."""
    images, masks = data
    return [uploads(images), uploads(masks), None, None, "background, box", "", "fcn8s", "epochs", "none", 0.0625,
            epochs, 2, "64", 1e-3, "ce", "none", 0.34, steps, name]


def zeros(n):
    """n zero bytes, CHUNK at a time."""
    block = bytes(CHUNK)
    while n > 0:
        yield block[:min(n, CHUNK)]
        n -= CHUNK


def multipart_upload(url, size):
    """POST one file of `size` zero bytes to gradio's upload route, streamed: (status, body text)."""
    boundary = "segdemo-test-boundary"

    def body():
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
               f"Content-Type: image/png\r\n\r\n").encode()
        yield from zeros(size)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(f"{url}gradio_api/upload", content=body(), timeout=300,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return response.status_code, response.text


def raw_post(url, path, content_type, parts, length):
    """POST `parts` (an iterable of bytes, `length` in all) over a bare socket with "Expect: 100-continue":
    the body is sent only if the server asks for it, so a refusal comes before a byte of it. (status, body)"""
    address = urllib.parse.urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=300) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        if answer.startswith(b"HTTP/1.1 100"):  # go on: the server reads the body
            answer = answer.partition(b"\r\n\r\n")[2]
            for part in parts:
                sock.sendall(part)
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


# ----------------------------------------------------------------------------- upload size


def test_an_upload_over_the_limit_is_refused_by_the_server(app_url, app_module):
    limit = app_module.MAX_FILE_SIZE  # the app's real setting (200 MB), nothing shrunk for the test
    status, text = multipart_upload(app_url, 1000)
    assert status == 200 and json.loads(text)[0].endswith("big.png")  # the request itself is well formed
    status, text = multipart_upload(app_url, limit + 1)
    assert status == 413, text
    assert f"maximum allowed size of {limit} bytes" in text


def test_a_data_url_over_the_limit_is_refused_by_the_server(app_url, app_module):
    # The API also takes images as base64 data URLs inside the JSON call, where gradio's per-file
    # limit does not look: the whole body is read into memory first. The app refuses such bodies.
    limit = app_module.MAX_FILE_SIZE
    head = b'{"data": [{"url": "data:image/png;base64,'
    tail = f'", "meta": {{"_type": "gradio.FileData"}}}}, "camvid-fcn8s", 0.5, "{CONFIDENCE}", null]}}'.encode()
    small = head + base64.b64encode(EXAMPLE.read_bytes()) + tail
    status, text = raw_post(app_url, "/gradio_api/call/segment", "application/json", [small], len(small))
    assert status == 200 and "event_id" in text  # such a call is taken when it is small
    n = -(-(limit + 1 - len(head) - len(tail)) // 4) * 4  # base64 comes in 4-character groups
    body = [head, *(b"A" * len(c) for c in zeros(n)), tail]
    status, text = raw_post(app_url, "/gradio_api/call/segment", "application/json", body,
                            len(head) + n + len(tail))
    assert status == 413, text[:300]


# ----------------------------------------------------------------------------- served files


SECRET_PATHS = ["app.py", "{repo}/app.py", "{repo}/segdemo/store.py", "{weights}/camvid-fcn8s.keras",
                "{weights}/camvid-fcn8s.json", "/etc/passwd", "/proc/self/environ",
                "/tmp/gradio/../../etc/passwd", "/tmp/gradio/%2e%2e/%2e%2e/etc/passwd",
                "..%2f..%2f..%2fetc%2fpasswd", "file:///etc/passwd"]


FILE_ROUTES = ["gradio_api/file=", "gradio_api/file/"]  # gradio 6's file routes (the second, deprecated, calls the first)


def get(app_url, target):
    """GET app_url + target sent as is (no client-side clean-up of '..'): (status, body)."""
    address = urllib.parse.urlsplit(app_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    connection.request("GET", target)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


@pytest.mark.parametrize("route", FILE_ROUTES)
def test_the_file_routes_probed_below_do_serve_uploads(app_url, route, tmp_path):
    # Without this, a route that does not exist (404 for everything) would pass the next test.
    photo = tmp_path / "served.png"
    Image.fromarray(np.full((8, 8, 3), 77, np.uint8)).save(photo)
    with open(photo, "rb") as f:
        reply = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("served.png", f, "image/png")},
                           timeout=60)
    reply.raise_for_status()
    status, body = get(app_url, f"/{route}{reply.json()[0]}")
    assert status == 200 and body == photo.read_bytes()


@pytest.mark.parametrize("route", FILE_ROUTES)
@pytest.mark.parametrize("path", SECRET_PATHS)
def test_source_weights_and_system_files_are_not_served(app_url, weights_dir, route, path):
    path = path.format(repo=REPO, weights=weights_dir)
    status, body = get(app_url, f"/{route}{path}")
    assert status == 403, f"/{route}{path}: {status}"  # gradio 6 refuses (403); 404 would be no such route
    assert b"root:" not in body and b"import " not in body


def test_a_path_the_client_did_not_upload_is_never_read(app_url, tmp_path):
    # gradio_client would upload a local file first; a hand-made call can name any server path instead.
    photo = tmp_path / "server-side.png"
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(photo)
    for path in (photo, EXAMPLE):  # both real images that /segment would happily segment
        call = httpx.post(f"{app_url}gradio_api/call/segment", timeout=60, json={"data": [
            {"path": str(path), "meta": {"_type": "gradio.FileData"}}, "camvid-fcn8s", 0.5, CONFIDENCE, None]})
        assert call.status_code == 200
        events = httpx.get(f"{app_url}gradio_api/call/segment/{call.json()['event_id']}", timeout=120).text
        assert events.startswith("event: error"), events[:300]


def test_traffic_monitoring_is_off(app_url, app_module):
    for path in ("monitoring", "monitoring/summary"):  # the summary lists every endpoint's traffic
        response = httpx.get(f"{app_url}{path}")
        assert response.status_code == 403, f"/{path}: {response.status_code} {response.text[:100]}"
    assert app_module.demo.enable_monitoring is False


# ----------------------------------------------------------------------------- model names


def endpoint_calls(name):
    """(api_name, arguments) of every endpoint that takes a model name, with `name` as the model."""
    photo = handle_file(str(EXAMPLE))
    return {"segment": ("/segment", [photo, name, 0.5, CONFIDENCE]),
            "compare-models": ("/compare", [photo, [name], "camvid-fcn8s"]),
            "compare-fcn": ("/compare", [photo, ["camvid-fcn8s"], name]),
            "model_card": ("/model_card", [name]),
            "evaluate": ("/evaluate", [name, None, None, None, None])}


@pytest.mark.parametrize("endpoint", list(endpoint_calls("x")))
@pytest.mark.parametrize("name", UNLISTED)
def test_every_endpoint_rechecks_the_model_name(client, weights_dir, endpoint, name):
    api_name, args = endpoint_calls(name)[endpoint]
    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api_name)
    message = str(err.value)
    if endpoint == "compare-models":  # a CheckboxGroup: gradio itself refuses values it does not list
        assert re.search("Unknown model|not in the list of choices", message), message
    else:  # free-text pickers (models trained later must be accepted): the app checks the weights folder
        assert "Unknown model" in message and re.search("choose one of .*camvid-fcn8s", message), message
    assert str(weights_dir) not in message  # and says nothing about where the models live


def test_the_sticker_takes_no_model_and_refuses_classes_it_does_not_know(client, app_url):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/sticker"]
    names = [p["parameter_name"] for p in info["parameters"]]
    assert names == ["class_name", "border", "region"]  # the result stays server-side
    client.predict(handle_file(str(EXAMPLE)), "camvid-fcn8s", 0.5, CONFIDENCE, api_name="/segment")
    for name in ("../../etc/passwd", "Cars"):
        with pytest.raises(AppError, match="Unknown class"):
            client.predict(name, 5, api_name="/sticker")


# ----------------------------------------------------------------------------- one training at a time


def wait_running(job, timeout=120):
    """Wait until a submitted job is being processed (not merely queued)."""
    deadline = time.monotonic() + timeout
    while job.status().code not in (Status.PROCESSING, Status.ITERATING, Status.PROGRESS):
        assert not job.done() and time.monotonic() < deadline, f"never ran: {job.status()}"
        time.sleep(0.1)


def test_a_second_training_waits_in_the_queue_and_both_are_saved(app_url, app_module, tiny_data, weights_dir,
                                                                   monkeypatch):
    runs = {}  # model name -> (start, end) of training.train, as the server ran it
    real_train = training.train

    def timed_train(config, name, **kwargs):
        start = time.monotonic()
        try:
            return real_train(config, name, **kwargs)
        finally:
            runs[name] = (start, time.monotonic())

    monkeypatch.setattr(training, "train", timed_train)  # what TrainingRun runs
    first = Client(app_url, verbose=False).submit(*train_args(tiny_data, "queue-first", 2, 3), api_name="/train")
    wait_running(first)
    second = Client(app_url, verbose=False).submit(*train_args(tiny_data, "queue-second", 1, 2),
                                                   api_name="/train")
    queued = []
    while not first.done():
        status = second.status()
        if status.code == Status.IN_QUEUE:
            queued.append((status.rank, status.queue_size))  # what the page shows as "queue: rank+1/size"
        time.sleep(0.2)
    first_out, second_out = first.result(timeout=300), second.result(timeout=300)

    assert queued and set(queued) == {(0, 1)}, queued  # first in line, one waiting
    assert runs["queue-second"][0] >= runs["queue-first"][1], f"the trainings overlapped: {runs}"
    assert "Saved **queue-first**" in first_out[4] and "Saved **queue-second**" in second_out[4]
    saved = {m["name"] for m in store.list_models(weights_dir)}
    assert {"queue-first", "queue-second"} <= saved


def test_the_page_says_that_its_training_waits(page, app_url, app_module, tiny_data, tmp_path):
    images, masks = tiny_data
    image_zip, mask_zip = zipped(images, tmp_path / "images.zip"), zipped(masks, tmp_path / "masks.zip")
    running = Client(app_url, verbose=False).submit(*train_args(tiny_data, "queue-long", 500, 500),
                                                    api_name="/train")  # runs until stopped below
    try:
        wait_running(running)
        fill_training_form(page, image_zip, mask_zip, epochs=1, steps=2, name="queue-browser")
        page.locator("#start").click()
        # gradio's status trackers over the training outputs: shown (not faded out), with a size, saying so
        page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=status-tracker]')].some(
            e => /queue: 1\\/1/.test(e.innerText) && !e.classList.contains('hide')
                 && e.getBoundingClientRect().height > 50 && getComputedStyle(e).opacity !== '0')""")
        assert not running.done()
    finally:
        for run in list(app_module.demo.tabs["train"].runs.values()):
            run.stop()  # as its Stop button would: the API training ends after its current step
    running.result(timeout=300)
    page.get_by_text("Saved queue-browser").wait_for(timeout=3 * SLOW)  # then the page's own training ran
