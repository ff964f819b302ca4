# blurfuse — two entry points for a newcomer: `make run` (the main job) and `make test`.
# Both create .venv and install everything they need (apt packages too, where apt is available).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pinned torch pair is what this project is tested with (on disk for Python 3.11 here);
# elsewhere pip falls back to the newest release inside setup.cfg's range.
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
# DATA, RUN and PORT are passed on only when set (make run DATA=... RUN=... PORT=...); the CLI holds the defaults.
DATA ?=
RUN ?=
PORT ?=
PYTEST_ARGS ?=

OPENCV_SAMPLES ?= /usr/share/doc/opencv-doc/examples/data

.PHONY: help venv fmnist chromium photos test run bench clean

help:
	@echo "make run   - build FMNIST-LT-Blur v1, train the default recipe, write the report, serve (port 5000 unless PORT=)"
	@echo "make test  - run the test suite"
	@echo "make bench - run the benchmarks under bench/"

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_PIN) || $(BIN)/python -m pip install 'torch<=2.14.1' 'torchvision<=0.29.1'
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# Debian packages: the Fashion-MNIST IDX files, and Chromium for the browser tests.
fmnist:
	@scripts/apt-install.sh $(FMNIST_DIR) dataset-fashion-mnist

chromium:
	@scripts/apt-install.sh /usr/bin/chromium chromium fonts-dejavu-core

# OpenCV's sample photographs, for bench/bench_blur_photos.py --pool wide.
photos:
	@scripts/apt-install.sh $(OPENCV_SAMPLES)/fruits.jpg opencv-doc

test: venv fmnist chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: venv fmnist
	$(BIN)/blurfuse run $(if $(DATA),--data $(DATA)) $(if $(RUN),--out $(RUN)) $(if $(PORT),--port $(PORT))

bench: venv fmnist
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_predict.py
	$(BIN)/python bench/bench_train.py $(if $(DATA),--data $(DATA))
	$(BIN)/python bench/bench_web.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
