"""A minimal OpenAI-compatible chat server for tests: stdlib HTTP around the transformers backend.

It answers `/v1/chat/completions` the way `vllm serve` does for the fields we read (`choices[0].message.
content`, `token_ids` when `return_token_ids`, `logprobs.content[i].logprob`, `finish_reason`,
`prompt_token_ids`) and rejects prompts longer than `max_model_len` with vLLM's error wording.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agentbench_tuning.rollout.generator import Prompt, Sampling, render_prompt


class ChatServer:
    def __init__(self, generator, max_model_len: int):
        self.generator = generator
        self.max_model_len = max_model_len
        self.lock = threading.Lock()  # one generate at a time, like a single engine
        self.requests: list[dict] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def answer(self, body: dict) -> tuple[int, dict]:
        self.requests.append(body)
        ids = render_prompt(self.generator.tokenizer, body["messages"])
        if len(ids) > self.max_model_len:
            message = (f"This model's maximum context length is {self.max_model_len} tokens. However, your prompt "
                       f"contains {len(ids)} input tokens")
            return 400, {"error": {"message": message, "type": "BadRequestError", "code": 400}}
        max_tokens = min(body.get("max_tokens") or self.max_model_len, self.max_model_len - len(ids))
        sampling = Sampling(body.get("temperature", 1.0), body.get("top_p", 1.0), max_tokens)
        with self.lock:
            [gen] = self.generator.generate([Prompt(body["messages"], ids, max_tokens, body.get("seed"))], sampling)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": gen.text},
            "finish_reason": gen.finish_reason,
            "logprobs": {"content": [{"token": str(t), "logprob": lp} for t, lp in zip(gen.token_ids, gen.logprobs, strict=False)]},
        }
        if body.get("return_token_ids"):
            choice["token_ids"] = gen.token_ids
        return 200, {"object": "chat.completion", "choices": [choice], "prompt_token_ids": ids}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, reply = server.answer(body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler
