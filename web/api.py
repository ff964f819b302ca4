"""JSON API: POST /api/predict (multipart field `image`) and GET /healthz."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from fusion.config import package_version
from web.forms import ALLOWED_EXTENSIONS

bp = Blueprint("api", __name__)


def _error(message: str, status: int = 400):
    return jsonify(error=message, status=status), status


@bp.post("/api/predict")
def predict():
    from features import load_image

    upload = request.files.get("image")
    if upload is None:
        return _error("send the image as multipart form field 'image'")
    name = upload.filename or ""
    if "." in name and name.rsplit(".", 1)[1].lower() not in ALLOWED_EXTENSIONS:
        return _error(f"unsupported file type {name.rsplit('.', 1)[1]!r}; send one of {', '.join(ALLOWED_EXTENSIONS)}", 415)
    data = upload.read()
    try:
        prediction, _ = current_app.extensions["blurfuse"].answer(load_image(data))
    except ValueError as error:
        return _error(f"the image could not be used: {error}")
    include_edges = request.values.get("edge_map", "0").lower() in ("1", "true", "yes")
    return jsonify(prediction.to_dict(include_edge_map=include_edges))


@bp.get("/healthz")
def healthz():
    cfg = current_app.extensions["blurfuse"].predictor.config
    return jsonify(status="ok", model_loaded=True, version=package_version(), classes=len(cfg.class_names),
                   backbone=cfg.backbone, branches=list(cfg.branches))
