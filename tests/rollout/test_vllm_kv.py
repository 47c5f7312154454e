"""The CPU KV cache is sized from the model's config (no vLLM needed to test the arithmetic)."""

from __future__ import annotations

from agentbench_tuning.rollout.vllm_engine import CPU_KV_CACHE_BYTES, cpu_kv_cache_bytes


def _config_dir(tmp_path, **fields):
    from transformers import LlamaConfig

    LlamaConfig(**fields).save_pretrained(tmp_path)
    return str(tmp_path)


def test_smollm2_shape_gets_two_full_sequences(tmp_path):
    # SmolLM2-135M: 30 layers, 9 query heads of 64, 3 KV heads
    model = _config_dir(tmp_path, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576)
    per_token = 2 * 30 * 3 * 64 * 4  # K and V, fp32
    assert cpu_kv_cache_bytes(model, 8192) == 2 * 8192 * per_token == 754_974_720
    assert cpu_kv_cache_bytes(model, 8192, "bfloat16") == 2 * 8192 * per_token // 2


def test_small_models_and_unreadable_configs_keep_the_floor(tmp_path):
    tiny = _config_dir(tmp_path / "tiny", num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       hidden_size=128)
    assert cpu_kv_cache_bytes(tiny, 8192) == CPU_KV_CACHE_BYTES
    assert cpu_kv_cache_bytes(str(tmp_path / "missing"), 8192) == CPU_KV_CACHE_BYTES
