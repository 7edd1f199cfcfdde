"""Model shapes (layers, widths, heads) the cost model and the reference loader need without loading a model."""

from __future__ import annotations

from dataclasses import dataclass

# Qwen3 shapes (config.json of each Hub repo): layers, hidden, intermediate, heads, kv heads, head_dim, tied.
QWEN3_SHAPES = {
    "0.6b": (28, 1024, 3072, 16, 8, 128, True),
    "1.7b": (28, 2048, 6144, 16, 8, 128, True),
    "4b": (36, 2560, 9728, 32, 8, 128, True),
    "8b": (36, 4096, 12288, 32, 8, 128, False),
    "14b": (40, 5120, 17408, 40, 8, 128, False),
}
VOCAB = 151936


@dataclass
class Shape:
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool

    @property
    def layer_params(self) -> int:
        attn = self.hidden * self.head_dim * (self.heads * 2 + self.kv_heads * 2)
        return attn + 3 * self.hidden * self.intermediate

    @property
    def non_embedding(self) -> int:
        return self.layers * self.layer_params

    @property
    def embedding(self) -> int:
        return VOCAB * self.hidden * (1 if self.tied else 2)

    @property
    def kv_bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * 2

    def lora_params(self, r: int, targets: list[str]) -> int:
        dims = {"q_proj": (self.hidden, self.heads * self.head_dim), "k_proj": (self.hidden, self.kv_heads * self.head_dim),
                "v_proj": (self.hidden, self.kv_heads * self.head_dim), "o_proj": (self.heads * self.head_dim, self.hidden),
                "gate_proj": (self.hidden, self.intermediate), "up_proj": (self.hidden, self.intermediate),
                "down_proj": (self.intermediate, self.hidden)}
        return self.layers * sum(r * sum(dims[t]) for t in targets if t in dims)


def shape_of(model_cfg) -> Shape:
    if model_cfg.id == "tiny-random-qwen3":
        t = model_cfg.tiny
        return Shape(t.num_hidden_layers, t.hidden_size, t.intermediate_size, t.num_attention_heads,
                     t.num_key_value_heads, t.head_dim, True)
    key = model_cfg.id.lower().split("qwen3-")[-1].replace("-base", "").split("-")[0]
    if key not in QWEN3_SHAPES:
        raise KeyError(model_cfg.id)
    return Shape(*QWEN3_SHAPES[key])
