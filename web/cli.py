"""`blurfuse serve`: the web app on a production WSGI server (waitress), optionally through ngrok."""

from __future__ import annotations

import argparse
import logging

from features.arg_types import absolute_path, positive_int  # Flask resolves a relative dir against its package
from web.batching import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT_MS

log = logging.getLogger("blurfuse.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the web app and JSON API for a trained model",
        description="Serve the upload page and the JSON API with waitress. The model is loaded once at start-up. "
        "--ngrok opens a public URL (token from NGROK_AUTHTOKEN).",
    )
    parser.add_argument("--model", type=absolute_path, required=True,
                        help="training run dir (holds model.safetensors + model.json)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None,
                        help="waitress threads: requests served at once (default: 32 with batching, where they only wait "
                        "for their batch; 4 without)")
    parser.add_argument("--no-batching", dest="batching", action="store_false",
                        help="answer each request alone instead of gathering concurrent ones into one model batch")
    parser.add_argument("--batch-max-size", type=positive_int, default=DEFAULT_MAX_SIZE,
                        help="most requests in one model batch (default %(default)s)")
    parser.add_argument("--batch-max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS,
                        help="how long the first request of a batch waits for others, in ms (default %(default)s)")
    parser.add_argument("--ngrok", action="store_true", help="also open a public ngrok tunnel (needs NGROK_AUTHTOKEN)")
    parser.add_argument("--basic-auth", metavar="USER:PASS", help="require HTTP basic auth on the ngrok URL (recommended)")
    parser.set_defaults(func=run)


def validate(args: argparse.Namespace) -> None:
    from web.tunnel import check_basic_auth

    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must lie in 1..65535; got {args.port}")
    if args.threads is None:
        args.threads = 32 if args.batching else 4
    if not 0 <= args.batch_max_wait_ms <= 1000:
        raise ValueError(f"--batch-max-wait-ms must lie in 0..1000; got {args.batch_max_wait_ms}")
    if not 1 <= args.threads <= 256:
        raise ValueError(f"--threads must lie in 1..256; got {args.threads}")
    if args.basic_auth is not None:
        if not args.ngrok:
            raise ValueError("--basic-auth protects the ngrok tunnel; add --ngrok")
        check_basic_auth(args.basic_auth)
    if not (args.model / "model.safetensors").is_file() and not args.model.is_file():
        raise FileNotFoundError(f"no checkpoint in {args.model} (train one with 'blurfuse train')")


def configure_torch_threads(model_threads: int, torch_threads: int | None = None) -> int:
    """`model_threads` threads run the model at once: one (the batcher) with batching, every waitress
    thread without. Each gets cores / model_threads torch threads, at least 1, so several requests
    running torch with every core cannot oversubscribe the CPU."""
    import os

    import torch

    count = torch_threads or max(1, (os.cpu_count() or 1) // model_threads)
    torch.set_num_threads(count)
    return count


def run(args: argparse.Namespace) -> int:
    validate(args)
    configure_torch_threads(1 if args.batching else args.threads)
    import waitress

    from web import create_app
    from web.tunnel import open_tunnel

    app = create_app({"MODEL_PATH": args.model, "BATCHING": args.batching, "BATCH_MAX_SIZE": args.batch_max_size,
                      "BATCH_MAX_WAIT_MS": args.batch_max_wait_ms})
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"serving {args.model} at {url}  (JSON API: POST {url}/api/predict; Ctrl+C to stop)", flush=True)
    if args.ngrok:
        public = open_tunnel(args.port, args.basic_auth)
        if public:
            print(f"public URL: {public}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="blurfuse")
    return 0
