"""Page blueprint: the upload form, the result, sample images, the model page and the report."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_from_directory

from web.context import ModelContext
from web.forms import UploadForm
from web.report_page import report_response
from web.views import data_uri, explanation, for_display

bp = Blueprint("pages", __name__)


def context() -> ModelContext:
    return current_app.extensions["blurfuse"]


def _index(form: UploadForm, error: str | None = None, status: int = 200):
    samples = [(i, s, data_uri(for_display_path(s.path))) for i, s in enumerate(context().samples)]
    return render_template("index.html", form=form, samples=samples, error=error), status


def for_display_path(path):
    from features import load_image

    return for_display(load_image(path))


def _result(image_bytes_or_path, filename: str):
    """Predict, explain and render; an unreadable image comes back as a 400 on the form page."""
    from features import load_image

    ctx = context()
    try:
        image = load_image(image_bytes_or_path)
        prediction, heat = ctx.answer(image, explain=True)
    except ValueError as error:
        return _index(UploadForm(), error=f"That file could not be used: {error}", status=400)
    counts = dict(zip(ctx.predictor.config.class_names, ctx.predictor.config.train_counts))
    view = explanation(prediction, image, heat, ctx.recall, counts, ood_keep=(ctx.predictor.config.ood or {}).get("keep"))
    return render_template("result.html", filename=filename, report=ctx.report_path is not None,
                           calibrated=bool(ctx.predictor.config.calibration), **view)


@bp.get("/")
def index():
    return _index(UploadForm())


@bp.post("/")
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        return _index(form, error=" ".join(str(e) for e in errors), status=400)
    upload = form.image.data
    # The upload is read into memory and never written to disk; its name is only displayed.
    return _result(upload.read(), upload.filename or "upload")


@bp.get("/sample/<int:index>")
def sample(index: int):
    samples = context().samples
    if not 0 <= index < len(samples):
        abort(404)
    chosen = samples[index]
    return _result(chosen.path, f"test sample: {chosen.label} ({'blurred' if chosen.blurred else 'sharp'})")


@bp.get("/model")
def model_page():
    ctx = context()
    cfg = ctx.predictor.config
    classes = [
        {"name": n, "group": g, "count": c, "recall": ctx.recall.get(n)}
        for n, g, c in zip(cfg.class_names, cfg.groups, cfg.train_counts)
    ]
    return render_template("model.html", cfg=cfg, classes=classes, report=ctx.report_path is not None,
                           feature_config=cfg.feature_config)


@bp.get("/report/")
def report():
    path = context().report_path
    if path is None:
        abort(404)
    return report_response(path)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on every page (the report's too); answering it keeps consoles clean."""
    return send_from_directory(Path(current_app.static_folder), "favicon.ico", mimetype="image/vnd.microsoft.icon")
