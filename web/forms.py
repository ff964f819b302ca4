"""The upload form (Flask-WTF: CSRF token, required file, allowed types)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired

ALLOWED_EXTENSIONS = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]


class UploadForm(FlaskForm):
    image = FileField(
        "Image",
        validators=[
            FileRequired("Choose an image to upload."),
            FileAllowed(ALLOWED_EXTENSIONS, "Only image files: " + ", ".join(ALLOWED_EXTENSIONS) + "."),
        ],
    )
