"""Load benchmark of the web app on loopback: requests/s, p50/p99 latency and errors.

Starts waitress on 127.0.0.1 with a checkpoint, sends a fixed number of requests at a fixed
concurrency with Debian's `hey` (a Python thread pool when `hey` is missing) to the JSON API and to
the HTML form, prints one table, and stops by itself. Loopback only.

    .venv/bin/python bench/bench_web.py --model runs/default [--requests 3000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib import request as urlrequest

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(image: bytes, boundary: str = "blurfusebench") -> tuple[bytes, str]:
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + image + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def run_hey(url: str, body: bytes, content_type: str, requests: int, concurrency: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".bin") as handle:
        handle.write(body)
        handle.flush()
        out = subprocess.run(["hey", "-n", str(requests), "-c", str(concurrency), "-m", "POST", "-T", content_type,
                              "-D", handle.name, url], capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1e3
    p99 = float(re.search(r"99%+ in ([\d.]+) secs", out).group(1)) * 1e3
    codes = dict((int(c), int(n)) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    errors = sum(n for c, n in codes.items() if c != 200) + len(re.findall(r"Error distribution:\n(?:\s+\[\d+\].*\n)+", out))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors}


def run_pool(url: str, body: bytes, content_type: str, requests: int, concurrency: int) -> dict:
    def one(_):
        start = time.perf_counter()
        req = urlrequest.Request(url, data=body, headers={"Content-Type": content_type})
        try:
            with urlrequest.urlopen(req, timeout=30) as response:
                ok = response.status == 200
        except OSError:
            ok = False
        return time.perf_counter() - start, ok

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    seconds = time.perf_counter() - start
    latencies = np.array([r[0] for r in results]) * 1e3
    return {"rps": requests / seconds, "p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
            "errors": sum(not r[1] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("runs/default"), help="run dir with a checkpoint")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch intra-op threads (default: as blurfuse serve)")
    args = parser.parse_args()

    from PIL import Image
    from waitress.server import create_server

    from web import create_app
    from web.cli import configure_torch_threads

    torch_threads = configure_torch_threads(args.threads, args.torch_threads)

    if not (args.model / "model.safetensors").is_file():
        sys.exit(f"no checkpoint in {args.model}: train one first (make run, or blurfuse train)")
    app = create_app({"MODEL_PATH": args.model, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench"})
    server = create_server(app, host="127.0.0.1", port=free_port(), threads=args.threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}"

    with open(Path(__file__).with_name("sample28.png"), "rb") if Path(__file__).with_name("sample28.png").is_file() else io.BytesIO() as handle:
        image = handle.read()
    if not image:
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(buffer, format="PNG")
        image = buffer.getvalue()
    body, content_type = multipart(image)
    runner = run_hey if shutil.which("hey") else run_pool
    rows = []
    for name, path in (("JSON API  POST /api/predict", "/api/predict"), ("HTML form POST /", "/")):
        runner(base + path, body, content_type, min(200, args.requests), args.concurrency)  # warm-up
        rows.append((name, runner(base + path, body, content_type, args.requests, args.concurrency)))
    server.close()

    print(f"\n{args.requests} requests per endpoint, concurrency {args.concurrency}, waitress threads {args.threads}, "
          f"torch threads {torch_threads}, 28 px PNG, client: {'hey' if runner is run_hey else 'python thread pool'}")
    print("| endpoint | requests/s | p50 | p99 | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['errors']} |")


if __name__ == "__main__":
    main()
