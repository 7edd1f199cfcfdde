"""A stand-in for `trl vllm-serve` (TRL 1.15, trl/scripts/vllm_serve.py) for tests without vLLM or a GPU.

Takes the real command's arguments (names and defaults copied from ScriptArguments, vllm_serve.py:85-189; unknown
ones are forwarded to vLLM by the real command, kept here) and serves the routes the trainer's client reads first:
GET /health (vllm_client.py:267-301), GET /v1/models (:253) and GET /get_world_size (:303-307).
FAKE_VLLM_SERVE=ok|die|hang picks the behaviour; FAKE_VLLM_SERVE_RECORD names a JSON file that gets the arguments,
CUDA_VISIBLE_DEVICES and the pid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    def flag(v: str) -> bool:
        return v.lower() in ("1", "true", "yes")

    ap = argparse.ArgumentParser(prog="trl vllm-serve")
    ap.add_argument("--model", required=True)
    ap.add_argument("--revision", default=None)
    ap.add_argument("--tensor_parallel_size", type=int, default=1)
    ap.add_argument("--data_parallel_size", type=int, default=1)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--gpu_memory_utilization", type=float, default=0.9)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--max_model_len", type=int, default=None)
    ap.add_argument("--enable_prefix_caching", type=flag, default=None)
    ap.add_argument("--enforce_eager", type=flag, default=False)
    ap.add_argument("--kv_cache_dtype", default="auto")
    ap.add_argument("--trust_remote_code", type=flag, default=False)
    ap.add_argument("--log_level", default="info")
    ap.add_argument("--vllm_model_impl", default="vllm")
    ap.add_argument("--distributed_executor_backend", default=None)
    ap.add_argument("--speculative_config", default=None)
    return ap.parse_known_args(argv)


def main() -> None:
    args, extra = parse(sys.argv[1:])
    mode = os.environ.get("FAKE_VLLM_SERVE", "ok")
    record = os.environ.get("FAKE_VLLM_SERVE_RECORD")
    if record:
        with open(record, "w") as f:
            json.dump({"args": vars(args), "extra": extra, "pid": os.getpid(),
                       "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}, f)
    print(f"INFO fake vllm serve {args.model} tp={args.tensor_parallel_size}", flush=True)
    if mode == "die":
        print("ERROR torch.OutOfMemoryError: CUDA out of memory (fake)", flush=True)
        sys.exit(3)
    if mode == "hang":
        while True:
            time.sleep(1)
    time.sleep(0.3)  # a server is never up at once

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes = {"/health": {}, "/v1/models": {"data": [{"id": args.model}]},
                      "/get_world_size": {"world_size": args.tensor_parallel_size * args.data_parallel_size}}
            if self.path not in routes:
                self.send_error(404)
                return
            body = json.dumps(routes[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    HTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
