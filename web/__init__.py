"""The web app: upload an image, see the prediction beside the edge map, Grad-CAM and blur verdict.

Flask's tutorial layout: `create_app(config)` builds the app, one blueprint for pages and one for
the JSON API. The model is injected through config (`PREDICTOR`, or `MODEL_PATH` loaded once
here), so tests hand in a tiny checkpoint and the server loads the real one once at start-up.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from web.batching import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT_MS
from web.context import ModelContext
from web.security import add_security_headers, secret_key

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
csrf = CSRFProtect()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=None,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_ENABLED=True,
        WTF_CSRF_TIME_LIMIT=None,
        MODEL_PATH=None,
        PREDICTOR=None,
        BATCHING=True,  # gather concurrent requests into one model batch (web.batching)
        BATCH_MAX_SIZE=DEFAULT_MAX_SIZE,
        BATCH_MAX_WAIT_MS=DEFAULT_MAX_WAIT_MS,
    )
    app.config.update(config or {})
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = secret_key(app.logger)
    batching = ({"max_size": app.config["BATCH_MAX_SIZE"], "max_wait_ms": app.config["BATCH_MAX_WAIT_MS"]}
                if app.config["BATCHING"] else None)
    app.extensions["blurfuse"] = ModelContext.create(app.config["PREDICTOR"], app.config["MODEL_PATH"], batching)

    csrf.init_app(app)
    from web import api, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # the JSON API takes uploads from scripts (curl), not from our form
    app.after_request(add_security_headers)
    _register_errors(app)
    return app


def _register_errors(app: Flask) -> None:
    def respond(status: int, title: str, message: str):
        if request.path.startswith("/api/"):
            return jsonify(error=message, status=status), status
        return render_template("error.html", status=status, title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return respond(400, "The form expired", f"{error.description} Reload the page and try again.")

    @app.errorhandler(413)
    def too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return respond(413, "File too large", f"Uploads are limited to {limit} MB.")

    @app.errorhandler(404)
    def not_found(error):
        return respond(404, "Not found", "There is nothing at this address.")

    @app.errorhandler(405)
    def not_allowed(error):
        return respond(405, "Method not allowed", "This address does not accept that method.")
