"""End to end in real headless Chromium: upload through the form, see the answer, keep a screenshot;
follow the report link of an app served the way `make run` serves it."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from waitress.server import create_server

from web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def run_with_report(tiny_checkpoint, tiny_dataset, tmp_path_factory):
    """The tiny run with a real report beside it, written by `analysis.report.make_report`."""
    from analysis.report import make_report

    run = tmp_path_factory.mktemp("served") / "run"
    shutil.copytree(tiny_checkpoint, run)
    make_report(run, tiny_dataset.root, split="test", n_resamples=50, progress=False)
    return run


@pytest.fixture
def server(run_with_report):
    app = create_app({"MODEL_PATH": run_with_report, "SECRET_KEY": "browser-test"})
    server = create_server(app, host="127.0.0.1", port=free_port(), threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


class PageProblems:
    """Console errors, failed requests and 4xx/5xx answers seen while a page loads: a clean page has none."""

    def __init__(self, page) -> None:
        self.seen: list[str] = []
        page.on("console", lambda m: self.seen.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: self.seen.append(f"page error: {error}"))
        page.on("requestfailed", lambda r: self.seen.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: self.seen.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def check(self, where: str) -> None:
        assert not self.seen, f"{where}: " + "; ".join(self.seen)


def _settle(page) -> None:
    """Let the favicon request and any late console message arrive before the page is judged."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)


@pytest.mark.browser
def test_every_page_loads_without_console_errors_or_failed_requests(server, tiny_dataset):
    image = tiny_dataset.root / tiny_dataset.split_rows("test")[3]["path"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        problems = PageProblems(page)
        page.goto(server)
        _settle(page)
        problems.check("/")
        page.set_input_files("#image", str(image))
        page.click("button[type=submit]")
        page.wait_for_selector("#prediction", timeout=20000)
        _settle(page)
        problems.check("the result page")
        for path in ("/model", "/report/"):
            page.goto(server + path)
            _settle(page)
            problems.check(path)
        browser.close()


@pytest.mark.browser
def test_the_served_report_shows_its_own_styles(server, run_with_report):
    """The report's inline stylesheet applies when served (the CSP admits it by hash) as it does from disk."""
    styles = "({th: getComputedStyle(document.querySelector('th')).backgroundColor, " \
             "cell: getComputedStyle(document.querySelector('td')).borderTopStyle, " \
             "main: getComputedStyle(document.querySelector('main')).maxWidth})"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((run_with_report / "report" / "index.html").as_uri())
        from_disk = page.evaluate(styles)
        page.goto(server + "/report/")
        served = page.evaluate(styles)
        browser.close()
    assert from_disk == {"th": "rgb(240, 240, 240)", "cell": "solid", "main": "1100px"}
    assert served == from_disk


@pytest.mark.browser
def test_upload_through_the_form_in_chromium(server, tiny_dataset, tmp_path):
    assert Path(CHROMIUM).exists(), "Debian's chromium is required: apt-get install chromium (make test does it)"
    image = tiny_dataset.root / tiny_dataset.split_rows("test")[3]["path"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(server)
        page.set_input_files("#image", str(image))
        page.click("button[type=submit]")
        page.wait_for_selector("#prediction", timeout=20000)
        prediction = page.inner_text("#prediction")
        assert any(name in prediction for name in tiny_dataset.class_names)
        assert page.get_attribute("#edge-map", "src").startswith("data:image/png;base64,")
        assert page.evaluate("document.getElementById('edge-map').naturalWidth") > 0
        verdict = page.inner_text("#blur-verdict")
        assert "Blurred" in verdict or "Sharp" in verdict
        screenshot = tmp_path / "result.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert screenshot.stat().st_size > 20000
    assert not errors
    shutil.copy(screenshot, Path("/tmp") / "blurfuse-web-result.png")


@pytest.fixture
def served_like_make_run(tiny_checkpoint, tmp_path):
    """`blurfuse serve --model runs/default` in a subprocess whose working directory holds runs/default,
    as `make run` does: the run dir reaches the app as a relative path."""
    run = tmp_path / "runs" / "default"
    shutil.copytree(tiny_checkpoint, run)
    (run / "report").mkdir()
    (run / "report" / "index.html").write_text('<html><body><h1 id="report-title">Evaluation report</h1></body></html>')
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                     os.environ.get("PYTHONPATH")]))}
    server = subprocess.Popen([sys.executable, "-m", "blurfuse.cli", "serve", "--model", "runs/default",
                               "--port", str(port), "--threads", "2"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"blurfuse serve exited early:\n{server.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"blurfuse serve did not answer within {timeout:.0f} s")


@pytest.mark.browser
def test_report_link_of_an_app_served_with_a_relative_model_path(served_like_make_run):
    assert Path(CHROMIUM).exists(), "Debian's chromium is required: apt-get install chromium (make test does it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{served_like_make_run}/model")
        with page.expect_navigation() as navigation:
            page.click("text=Open the analysis report")
        response = navigation.value
        assert response is not None and response.status == 200
        assert page.inner_text("#report-title") == "Evaluation report"
        browser.close()
