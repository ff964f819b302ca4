"""Load benchmark of the served JSON API, old code against new code, alternating in one run.

Each tree (`--old`, an earlier checkout; `--new`, this one) is started as the real server
(`blurfuse serve --model RUN`, its own defaults: threads, batching) on a free loopback port, then
loaded with Debian's `hey` (a Python thread pool when `hey` is missing): `--requests` POSTs to
/api/predict at each concurrency, with (a) an ordinary 28 px Fashion-MNIST test image and (b) one
on which the Laplacian verdict and the learned blur head disagree (the answer then needs a second
pass). Prints requests/s, p50/p99 latency, errors and the server's resident memory before and
after, per tree and round, and the new/old ratio of the medians.

    .venv/bin/python bench/bench_web.py --model runs/default --old /tmp/old-checkout [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
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


def pick_images(model: Path, count: int = 3000) -> dict[str, bytes]:
    """PNG bytes of an ordinary test image and of one whose two blur verdicts disagree."""
    from features.png import encode_png
    from fusion.predictor import Predictor

    from bench.bench_predict_folder import fmnist_test_images

    images = fmnist_test_images(count)
    predictions = Predictor.from_checkpoint(model).predict_batch(list(images))
    normal = next(i for i, p in enumerate(predictions) if p.blur_disagreement is None and p.in_distribution is not False)
    disagree = next((i for i, p in enumerate(predictions) if p.blur_disagreement is not None), None)
    if disagree is None:
        sys.exit(f"none of {count} test images makes this model's blur verdicts disagree; raise --scan")
    return {"normal": encode_png(images[normal]), "disagreement": encode_png(images[disagree])}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(tree: Path, model: Path, port: int) -> subprocess.Popen:
    """`blurfuse serve` from `tree`'s own code, as a user starts it."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    server = subprocess.Popen([sys.executable, "-m", "blurfuse.cli", "serve", "--model", str(model), "--port", str(port)],
                              cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urlrequest.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                sys.exit(f"the server from {tree} exited at start-up")
            time.sleep(0.5)
    server.kill()
    sys.exit(f"the server from {tree} did not answer within 120 s")


def measure_tree(tree: Path, args: argparse.Namespace, images: dict[str, bytes], runner) -> list[dict]:
    port = free_port()
    server = start_server(tree, args.model, port)
    url = f"http://127.0.0.1:{port}/api/predict"
    rows = []
    try:
        for kind, image in images.items():
            body, content_type = multipart(image)
            runner(url, body, content_type, 200, 8)  # warm-up
            for concurrency in args.concurrency:
                before = rss_mb(server.pid)
                result = runner(url, body, content_type, args.requests, concurrency)
                rows.append({"image": kind, "concurrency": concurrency, "rss_before": before, "rss_after": rss_mb(server.pid), **result})
    finally:
        server.terminate()
        server.wait(timeout=20)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("runs/default"), help="run dir with a checkpoint")
    parser.add_argument("--old", type=Path, required=True, help="an older checkout of this repository (git worktree add DIR COMMIT)")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1], help="the tree measured against it")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--rounds", type=int, default=2, help="old, new, old, new, ...")
    args = parser.parse_args()
    args.model = args.model.resolve()
    if not (args.model / "model.safetensors").is_file():
        sys.exit(f"no checkpoint in {args.model}: train one first (make run, or blurfuse train)")
    images = pick_images(args.model)
    runner = run_hey if shutil.which("hey") else run_pool
    results: dict[str, list[list[dict]]] = {"old": [], "new": []}
    for round_ in range(args.rounds):
        for name in ("old", "new"):
            print(f"round {round_ + 1}: {name} ({getattr(args, name)})", file=sys.stderr, flush=True)
            results[name].append(measure_tree(getattr(args, name).resolve(), args, images, runner))
    print(f"\n{args.requests} POST /api/predict per row, {'hey' if runner is run_hey else 'python thread pool'}, "
          f"{os.cpu_count()} cores, model {args.model}")
    print("| tree | round | image | concurrency | requests/s | p50 | p99 | errors | RSS before → after |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, rounds in results.items():
        for round_, rows in enumerate(rounds, 1):
            for r in rows:
                print(f"| {name} | {round_} | {r['image']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50']:.0f} ms | "
                      f"{r['p99']:.0f} ms | {r['errors']} | {r['rss_before']:.0f} → {r['rss_after']:.0f} MB |")
    print("\n| image | concurrency | old requests/s (median) | new requests/s (median) | new / old |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for k, first in enumerate(results["new"][0]):
        old = float(np.median([rows[k]["rps"] for rows in results["old"]]))
        new = float(np.median([rows[k]["rps"] for rows in results["new"]]))
        print(f"| {first['image']} | {first['concurrency']} | {old:.0f} | {new:.0f} | {new / old:.2f}x |")


if __name__ == "__main__":
    main()
