"""The report directory: files, embedded figures, atomic replacement; `blurfuse report` end to end;
and the page rendered in real headless Chromium."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis.evaluate import Evaluation
from analysis.report import SECTIONS, card_counts, write_report
from blurfuse.cli import main

FIGURES = {"class_counts", "per_class_recall", "group_blur_heatmap", "confusion_matrix", "laplacian_histogram",
           "roc_curves", "rare_gallery"}
CLI_FIGURES = FIGURES | {"reliability"}  # the Predictor's answers carry logits: before/after temperature scaling
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EMBEDDED = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _synthetic_evaluation(make_table, n: int = 300) -> Evaluation:
    table = make_table(n=n)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (table.n, 28, 28, 3), dtype=np.uint8)
    edges = ((rng.random((table.n, 28, 28)) < 0.2) * 255).astype(np.uint8)
    return Evaluation(table, images, edges, blur_threshold=120.0)


PROVENANCE = {"model": "/runs/x", "data": "/data/y", "split": "test", "backbone": "tf_efficientnet_lite0",
              "branches": ["rgb", "edge", "blur"], "input_size": 32, "model_version": "0.1.0"}
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"]  # make_table's classes
CARD = {"counts_before": {"train": {n: 6000 for n in NAMES}}, "counts_after": {"train": [100, 100, 5000, 5000, 800, 800]}}


def _check_report_dir(out: Path, n_images: int, class_names: list[str], figures: set[str] = FIGURES) -> dict:
    index = (out / "index.html").read_text(encoding="utf-8")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    # every figure is a file AND embedded in the page, byte for byte
    embedded = [base64.b64decode(m) for m in EMBEDDED.findall(index)]
    files = {p.stem: p.read_bytes() for p in (out / "figures").glob("*.png")}
    assert set(files) == figures
    assert len(embedded) == len(figures)
    assert sorted(embedded) == sorted(files.values())
    assert all(png.startswith(PNG_MAGIC) and len(png) > 2000 for png in embedded)
    # self-contained: no external resources, no scripts
    assert not re.search(r'(src|href)="(https?:|//|file:)', index)
    assert "<script" not in index.lower() and "<link" not in index.lower()
    for table_id in ("overall-table", "group-table", "blur-table", "per-class-table", "detection-table", "calibration-table"):
        assert f'id="{table_id}"' in index
    # the same numbers in metrics.json, report.md and the page
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for sentence in metrics["summary"]:
        assert sentence in markdown
    assert set(metrics["figures"].values()) == {f"figures/{name}.png" for name in figures}
    assert set(metrics["per_class"]) == set(class_names)
    assert all(isinstance(metrics["per_class"][c]["recall"], float) for c in class_names)
    rows = (out / "predictions.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(rows) == n_images + 1
    assert rows[0].startswith("id,label,class_name,predicted,predicted_name,correct,top1_class,top1_prob")
    return metrics


def test_report_writes_every_figure_embedded_and_the_same_numbers(tmp_path, make_table):
    evaluation = _synthetic_evaluation(make_table)
    assert evaluation.table.class_names == NAMES
    index = write_report(evaluation, tmp_path / "report", CARD, 120.0, PROVENANCE, n_resamples=100)
    assert index == tmp_path / "report" / "index.html"
    metrics = _check_report_dir(tmp_path / "report", evaluation.table.n, NAMES)
    page = index.read_text(encoding="utf-8")
    gap = metrics["gaps"]["frequent_minus_rare_recall"]
    assert f"{gap['points']:+.1f} pts" in page
    assert [h for h, _ in SECTIONS][0] in page


def test_report_dir_is_replaced_only_with_force(tmp_path, make_table):
    evaluation = _synthetic_evaluation(make_table, 120)
    out = tmp_path / "report"
    write_report(evaluation, out, CARD, 120.0, PROVENANCE, n_resamples=20)
    (out / "stale.txt").write_text("old")
    with pytest.raises(FileExistsError, match="--force"):
        write_report(evaluation, out, CARD, 120.0, PROVENANCE, n_resamples=20)
    assert (out / "stale.txt").exists()
    write_report(evaluation, out, CARD, 120.0, PROVENANCE, n_resamples=20, force=True)
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind


def test_card_counts_accepts_dicts_and_lists():
    before, after = card_counts(CARD, NAMES)
    assert before == [6000] * 6 and after == [100, 100, 5000, 5000, 800, 800]
    assert card_counts({}, NAMES) == (None, None)
    assert card_counts({"counts_after": [1, 2, 3, 4, 5, 6]}, NAMES) == (None, [1, 2, 3, 4, 5, 6])


# --- end to end through the CLI on the real tiny fixtures ---------------------------------------


def _dataset_path(tiny_dataset) -> Path:
    return Path(getattr(tiny_dataset, "root", tiny_dataset))


@pytest.fixture(scope="module")
def cli_report(tiny_dataset, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis_cli") / "report"
    status = main(["report", "--model", str(tiny_checkpoint), "--data", str(_dataset_path(tiny_dataset)),
                   "--out", str(out), "--bootstrap", "200", "--batch-size", "64", "--no-progress"])
    assert status == 0
    return out


def test_cli_report_end_to_end(cli_report, tiny_dataset, tiny_checkpoint, capsys):
    from train.data.dataset_dir import read_dataset

    dataset = read_dataset(_dataset_path(tiny_dataset))
    n_test = len(dataset.split_rows("test"))
    metrics = _check_report_dir(cli_report, n_test, list(dataset.class_names), CLI_FIGURES)
    assert metrics["overall"]["n_images"] == n_test
    assert metrics["run"]["split"] == "test"
    # the predictions the report counted are the Predictor's answers
    from fusion.predictor import Predictor

    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    first = predictor.predict(dataset.load_images("test", progress=False)[0])
    row = (cli_report / "predictions.csv").read_text().splitlines()[1].split(",")
    assert row[4] == first.class_name
    assert float(row[7]) == pytest.approx(first.probability, abs=1e-5)
    assert metrics["blur_detection"]["laplacian_fitted"]["threshold"] == pytest.approx(
        dataset.feature_config.blur_threshold)


def test_cli_report_refuses_existing_dir_and_bad_split(cli_report, tiny_dataset, tiny_checkpoint, capsys):
    argv = ["report", "--model", str(tiny_checkpoint), "--data", str(_dataset_path(tiny_dataset)), "--out", str(cli_report)]
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(argv + ["--split", "nope"])
    assert main(["report", "--model", str(tiny_checkpoint), "--data", str(cli_report), "--out",
                 str(cli_report.parent / "other")]) == 2


def test_cli_report_on_the_dev_split(tiny_dataset, tiny_checkpoint, tmp_path):
    out = tmp_path / "dev-report"
    assert main(["report", "--model", str(tiny_checkpoint), "--data", str(_dataset_path(tiny_dataset)), "--split", "dev",
                 "--out", str(out), "--bootstrap", "50", "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["split"] == "dev"
    assert metrics["overall"]["n_images"] == len(tiny_dataset.split_rows("dev")) > 0
    ids = [line.split(",")[0] for line in (out / "predictions.csv").read_text().splitlines()[1:]]
    assert ids and all(i.startswith("dev-") for i in ids)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(cli_report, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto((cli_report / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")
            assert page.locator("#group-table").count() == 1 and page.locator("#blur-table").count() == 1
            group_text = page.inner_text("#group-table")
            assert "frequent" in group_text and "rare" in group_text and "recall" in group_text
            blur_text = page.inner_text("#blur-table")
            assert "sharp" in blur_text and "blurred" in blur_text
            assert page.locator("#summary li").count() >= 4
            # every figure decoded by the browser (naturalWidth > 0 means the PNG rendered)
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == len(CLI_FIGURES) and all(w > 100 for w in widths)
            assert all(u.startswith(("file:", "data:")) for u in requests)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000
