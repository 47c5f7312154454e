"""Generation through an OpenAI-compatible `/v1/chat/completions` endpoint: a `vllm serve` the user started
(the way the competition serves models), or anything speaking that API. Standard library only.

The server renders the chat itself. When it is vLLM, we ask for `return_token_ids` and logprobs, so the
tokens are the served ones; otherwise token ids are re-derived from the text with the local tokenizer (if
any) and logprobs come from the response when present. A "maximum context length" error becomes finish
reason "context", which the episode runner turns into status `agent context limit`, as AgentBench does.

    gen = OpenAIGenerator("http://127.0.0.1:8000", model="qwen", tokenizer=tokenizer)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from agentbench_tuning.rollout.generator import CONTEXT, LENGTH, STOP, Generation, Prompt, Sampling


class EndpointError(RuntimeError):
    pass


class OpenAIGenerator:
    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer=None,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        max_parallel: int = 16,
    ):
        self.url = base_url.rstrip("/") + ("" if base_url.rstrip("/").endswith("/v1") else "/v1")
        self.url += "/chat/completions"
        self.model = model
        self.tokenizer = tokenizer
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_parallel = max_parallel
        self.vllm_extensions = True  # off after a server rejects `return_token_ids` (OpenAI's own API does)

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=min(self.max_parallel, max(1, len(prompts)))) as pool:
            return list(pool.map(lambda p: self._one(p, sampling), prompts))

    def close(self) -> None:
        pass

    def _one(self, prompt: Prompt, sampling: Sampling) -> Generation:
        body = {
            "model": self.model,
            "messages": prompt.messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": prompt.max_new_tokens,
            "logprobs": True,
        }
        if self.vllm_extensions:
            body["return_token_ids"] = True
        if prompt.seed is not None and not sampling.greedy:
            body["seed"] = prompt.seed
        try:
            reply = self._post(body)
        except EndpointError as err:
            if "return_token_ids" in str(err) and self.vllm_extensions:
                self.vllm_extensions = False
                return self._one(prompt, sampling)
            if "context length" in str(err):  # vLLM: "This model's maximum context length is ..."
                return Generation([], [], "", CONTEXT, prompt_ids=list(prompt.ids))
            raise
        return self._convert(prompt, reply)

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:2000]
            raise EndpointError(f"{self.url}: HTTP {err.code}: {detail}") from None
        except urllib.error.URLError as err:
            raise EndpointError(f"{self.url}: cannot connect ({err.reason}); is the server running?") from None

    def _convert(self, prompt: Prompt, reply: dict) -> Generation:
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"{self.url}: reply has no choices[0].message.content: {str(reply)[:500]}") from None
        token_ids = choice.get("token_ids")
        if token_ids is None and self.tokenizer is not None:
            token_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        content = (choice.get("logprobs") or {}).get("content")
        logprobs = [float(entry["logprob"]) for entry in content] if content else None
        reason = LENGTH if choice.get("finish_reason") == "length" else STOP
        prompt_ids = reply.get("prompt_token_ids") or list(prompt.ids)
        return Generation(list(token_ids or []), logprobs, text, reason, prompt_ids=list(prompt_ids))
