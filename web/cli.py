"""`blurfuse serve`: the web app on a production WSGI server (waitress), optionally through ngrok."""

from __future__ import annotations

import argparse
import logging

from features.arg_types import absolute_path  # Flask resolves a relative dir against its package

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
    parser.add_argument("--threads", type=int, default=4, help="worker threads (default %(default)s)")
    parser.add_argument("--ngrok", action="store_true", help="also open a public ngrok tunnel (needs NGROK_AUTHTOKEN)")
    parser.add_argument("--basic-auth", metavar="USER:PASS", help="require HTTP basic auth on the ngrok URL (recommended)")
    parser.set_defaults(func=run)


def validate(args: argparse.Namespace) -> None:
    from web.tunnel import check_basic_auth

    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must lie in 1..65535; got {args.port}")
    if not 1 <= args.threads <= 256:
        raise ValueError(f"--threads must lie in 1..256; got {args.threads}")
    if args.basic_auth is not None:
        if not args.ngrok:
            raise ValueError("--basic-auth protects the ngrok tunnel; add --ngrok")
        check_basic_auth(args.basic_auth)
    if not (args.model / "model.safetensors").is_file() and not args.model.is_file():
        raise FileNotFoundError(f"no checkpoint in {args.model} (train one with 'blurfuse train')")


def configure_torch_threads(server_threads: int, torch_threads: int | None = None) -> int:
    """Concurrency across requests, not within one: several waitress threads each running torch
    with every core would oversubscribe the CPU. Default: cores / server threads, at least 1."""
    import os

    import torch

    count = torch_threads or max(1, (os.cpu_count() or 1) // server_threads)
    torch.set_num_threads(count)
    return count


def run(args: argparse.Namespace) -> int:
    validate(args)
    configure_torch_threads(args.threads)
    import waitress

    from web import create_app
    from web.tunnel import open_tunnel

    app = create_app({"MODEL_PATH": args.model})
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"serving {args.model} at {url}  (JSON API: POST {url}/api/predict; Ctrl+C to stop)", flush=True)
    if args.ngrok:
        public = open_tunnel(args.port, args.basic_auth)
        if public:
            print(f"public URL: {public}", flush=True)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="blurfuse")
    return 0
