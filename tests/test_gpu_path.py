"""CPU twins of the GPU path's decisions (#12): the real TRL GRPOConfig from every recipe, the unsloth/vLLM load
arguments, GRPO rollouts with vLLM, chunked generation without it, and the vLLM evaluation engine, all driven
through the fakes in tests/fakes (their signatures are copied from the pinned unsloth/unsloth_zoo/trl sources)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from kit import recipe as recipe_mod
from kit.errors import KitError
from kit.hardware import Hardware, choose_dtype

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
FAKES = Path(__file__).resolve().parent / "fakes"
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
GPU = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.2, True)
CPU = Hardware(False, "cpu", (0, 0), 0.0, False)


@pytest.fixture
def gpu_fakes(monkeypatch):
    """vllm importable (tests/fakes/vllm), unsloth = tests/fakes/fake_unsloth.py, and bf16 'available' to
    TrainingArguments (it refuses bf16 without such a GPU, transformers/training_args.py:1744-1750)."""
    monkeypatch.syspath_prepend(str(FAKES))
    spec = importlib.util.spec_from_file_location("unsloth", FAKES / "fake_unsloth.py")
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    monkeypatch.setitem(sys.modules, "unsloth", fake)
    import transformers.training_args as ta

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)
    yield fake
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        del sys.modules[name]  # find_spec('vllm') must not see the fake in later tests


def _recipe(**sections):
    return recipe_mod.from_dict(sections)


# ---------------------------------------------------------------------------------------------------------
# the real GRPOConfig from every recipe


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_builds_the_trl_config_it_asks_for_on_a_gpu(path, gpu_fakes, tmp_path):
    from kit.train.grpo import grpo_config, rollout_shape

    recipe = recipe_mod.load(path)
    g = recipe.grpo
    cfg = grpo_config(recipe, GPU, tmp_path, 1000, [1.0])
    spg = g.steps_per_generation or g.grad_accum
    assert cfg.use_vllm is g.use_vllm
    if g.use_vllm:
        assert cfg.vllm_mode == "colocate"  # unsloth's engine is colocated (rl.py:4178); TRL's must be too
        assert cfg.use_transformers_continuous_batching is False
    assert cfg.per_device_train_batch_size == g.prompts_per_step * g.num_generations
    assert cfg.gradient_accumulation_steps == g.grad_accum
    assert cfg.steps_per_generation == spg
    assert cfg.generation_batch_size == g.prompts_per_step * g.num_generations * spg
    assert cfg.num_iterations == g.num_iterations
    assert (cfg.epsilon, cfg.epsilon_high, cfg.beta, cfg.loss_type) == (g.epsilon, g.epsilon_high, g.beta, g.loss_type)
    assert cfg.weight_decay == g.weight_decay
    assert cfg.bf16 is (choose_dtype(recipe.model.dtype, GPU) == "bfloat16")
    shape = rollout_shape(recipe, GPU)
    for key in ("use_vllm", "per_device_train_batch_size", "steps_per_generation", "generation_batch_size",
                "num_iterations", "gradient_accumulation_steps"):
        assert shape[key] == getattr(cfg, key), key
    # TRL keeps old log-probs (so the ratio can leave 1) only when this holds: grpo_trainer.py:2568-2583
    trl_recomputes = cfg.gradient_accumulation_steps % (cfg.steps_per_generation * cfg.num_iterations) != 0
    assert shape["clip_active"] is trl_recomputes
    assert (shape["clip_note"] is None) is trl_recomputes
    assert shape["mode"] == ("vllm_unsloth" if g.use_vllm else "generate")
    assert (shape["generate_chunk"] is None) is g.use_vllm


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_recipe_on_cpu_builds_or_refuses_vllm_in_one_line(path, tmp_path):
    from kit.train.grpo import grpo_config

    recipe = recipe_mod.load(path)
    if recipe.grpo.use_vllm:
        with pytest.raises(KitError, match="grpo.use_vllm=true needs a CUDA GPU"):
            grpo_config(recipe, CPU, tmp_path, 10, [1.0])
        return
    cfg = grpo_config(recipe, CPU, tmp_path, 10, [1.0])
    assert cfg.use_vllm is False and cfg.use_cpu is True


def test_paper_rollout_reuse_on_the_14b_recipe_makes_clipping_act(gpu_fakes, tmp_path):
    """The paper: 512-prompt rollout batches, 16 mini-batch updates of 32 prompts each."""
    from kit.train.grpo import grpo_config, rollout_shape

    recipe = recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml",
                             ["grpo.steps_per_generation=512", "grpo.prompts_per_step=1", "grpo.grad_accum=32",
                              "grpo.num_generations=16"])
    cfg = grpo_config(recipe, GPU, tmp_path, 1000, [1.0])
    assert (cfg.generation_batch_size, cfg.steps_per_generation) == (512 * 16, 512)
    shape = rollout_shape(recipe, GPU)
    assert shape["prompts_per_rollout"] == 512 and shape["optimizer_steps_per_rollout"] == 16
    assert shape["clip_active"] is True and shape["clip_note"] is None
    # the default (steps_per_generation = grad_accum): one update per rollout, ratio 1, clipping inert
    one = ["grpo.steps_per_generation=null", "grpo.num_iterations=1"]
    base = rollout_shape(recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml", one), GPU)
    assert base["steps_per_generation"] == 32 and base["clip_active"] is False and "cannot act" in base["clip_note"]
    assert rollout_shape(recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml", one[:1] + ["grpo.num_iterations=2"]),
                         GPU)["clip_active"] is True


def test_rollout_shape_plans_a_gpu_from_a_machine_without_vllm(tmp_path):
    """The planner's --gpu presets: no vllm, no unsloth here, yet the 4b recipe's vLLM path is planned as unsloth's."""
    from kit.train.grpo import rollout_shape

    assert importlib.util.find_spec("vllm") is None
    shape = rollout_shape(recipe_mod.load(ROOT / "recipes" / "qwen3-4b.yaml"), GPU)
    assert shape["mode"] == "vllm_unsloth" and shape["use_vllm"] is True


# ---------------------------------------------------------------------------------------------------------
# refusals, one line each


def test_vllm_refusals_name_the_key(tmp_path):
    from kit.train.grpo import generation_mode

    with pytest.raises(KitError, match="grpo.use_vllm=true but vllm is not installed"):
        generation_mode(_recipe(model={"backend": "hf"}, grpo={"use_vllm": True}), GPU)
    with pytest.raises(KitError, match="model.load_in_4bit=true: TRL's vLLM"):
        generation_mode(_recipe(model={"backend": "hf", "load_in_4bit": True}, grpo={"use_vllm": True}), GPU,
                        check_installed=False)
    with pytest.raises(KitError, match="set one of grpo.use_vllm and grpo.continuous_batching"):
        generation_mode(_recipe(grpo={"use_vllm": True, "continuous_batching": True}), GPU, check_installed=False)
    with pytest.raises(KitError, match="unsloth"):
        generation_mode(_recipe(model={"backend": "unsloth"}, grpo={"continuous_batching": True}), GPU,
                        check_installed=False)


def test_hf_backend_vllm_uses_trls_colocated_engine_sized_by_the_recipe(gpu_fakes, tmp_path):
    from kit.train.grpo import grpo_config

    recipe = _recipe(model={"backend": "hf", "gpu_memory_utilization": 0.4}, data={"max_prompt_tokens": 256},
                     grpo={"use_vllm": True, "max_completion_length": 512})
    cfg = grpo_config(recipe, GPU, tmp_path, 10, [1.0])
    assert (cfg.use_vllm, cfg.vllm_mode, cfg.vllm_gpu_memory_utilization, cfg.vllm_max_model_length) == \
        (True, "colocate", 0.4, 768)
    assert cfg.vllm_enable_sleep_mode is False and cfg.vllm_importance_sampling_correction is False


def test_continuous_batching_reaches_trl(tmp_path):
    from kit.train.grpo import grpo_config

    cfg = grpo_config(_recipe(grpo={"continuous_batching": True}), CPU, tmp_path, 10, [1.0])
    assert cfg.use_transformers_continuous_batching is True and cfg.use_vllm is False
    assert cfg.transformers_continuous_batching_config == {"max_memory_percent": 0.5}


# ---------------------------------------------------------------------------------------------------------
# DAPO options (#10 item 12)


def test_dapo_keys_reach_trl(tmp_path):
    from trl.rewards import get_soft_overlong_punishment

    from kit.train.grpo import _with_overlong, grpo_config

    recipe = _recipe(grpo={"weight_decay": 0.1, "warmup_steps": 10, "overlong_buffer": 64, "overlong_penalty": 0.5,
                           "max_completion_length": 256})
    cfg = grpo_config(recipe, CPU, tmp_path, 10, [1.0, 0.5])
    assert cfg.weight_decay == 0.1 and cfg.warmup_steps == 10
    funcs, weights = _with_overlong(recipe, ["correctness"], [1.0])
    assert weights == [1.0, 0.5] and type(funcs[1]) is type(get_soft_overlong_punishment(256, 64))
    assert funcs[1](completion_ids=[[1] * 100, [1] * 224, [1] * 256]) == [0.0, -0.5, -1.0]
    assert _with_overlong(_recipe(), ["c"], [1.0]) == (["c"], [1.0])  # 0 = off


def test_dapo_refusals():
    from kit.train.grpo import grpo_kwargs

    with pytest.raises(KitError, match="grpo.dynamic_sampling"):
        _recipe(grpo={"dynamic_sampling": True})
    with pytest.raises(KitError, match="grpo.overlong_buffer"):
        grpo_kwargs(_recipe(grpo={"overlong_buffer": 64, "max_completion_length": 64}), CPU, Path("x"), 1, [1.0])


def test_dropout_in_the_policy_is_a_recipe_knob(tmp_path):
    """TRL's default keeps dropout (disable_dropout=False); the kit turns it off unless the recipe says otherwise,
    and the real GRPOConfig carries the recipe's value."""
    from kit.train.grpo import grpo_config

    assert grpo_config(_recipe(), CPU, tmp_path, 8, [1.0]).disable_dropout is True
    assert grpo_config(_recipe(grpo={"disable_dropout": False}), CPU, tmp_path, 8, [1.0]).disable_dropout is False


# ---------------------------------------------------------------------------------------------------------
# chunked generation without vLLM


class _RecordingGenerator(torch.nn.Module):
    """generate() returns prompt + (3 + chunk index) new tokens per row, recording each call's batch size."""

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []
        self.generation_config = SimpleNamespace(pad_token_id=0)

    def generate(self, input_ids=None, attention_mask=None, generation_config=None):
        self.sizes.append(input_ids.shape[0])
        new = torch.full((input_ids.shape[0], 3 + len(self.sizes)), 7)
        return torch.cat([input_ids, new], dim=1)


def test_chunk_generate_splits_rows_keeps_prompt_width_and_pads_with_pad_token():
    from kit.train.grpo import chunk_generate

    model = _RecordingGenerator()
    chunk_generate(model, 4)
    chunk_generate(model, 4)  # idempotent: wraps the original, not the wrapper
    ids = torch.arange(10 * 5).reshape(10, 5)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                         generation_config=SimpleNamespace(pad_token_id=-1))
    assert model.sizes == [4, 4, 2]
    assert out.shape == (10, 5 + 6)
    assert torch.equal(out[:, :5], ids)  # TRL slices completions at the prompt width
    assert (out[:4, 5:9] == 7).all() and (out[:4, 9:] == -1).all()  # shorter chunk right-padded
    assert (out[8:, 5:] == 7).all()
    model.sizes.clear()
    model.generate(input_ids=ids[:3], attention_mask=torch.ones_like(ids[:3]))
    assert model.sizes == [3]


def test_generation_chunk_defaults_to_one_optimizer_steps_completions():
    from kit.train.grpo import generation_chunk

    assert generation_chunk(_recipe(grpo={"prompts_per_step": 2, "num_generations": 8, "grad_accum": 4})) == 64
    assert generation_chunk(_recipe(grpo={"prompts_per_step": 2, "num_generations": 8})) == 16
    assert generation_chunk(_recipe(grpo={"generation_chunk": 64})) == 64


# ---------------------------------------------------------------------------------------------------------
# unsloth load arguments


def test_unsloth_kwargs_keep_the_pin_and_size_lora_slots(monkeypatch):
    import huggingface_hub

    from kit.models import VLLMSpec, unsloth_kwargs
    from kit.recipe import ModelCfg

    cfg = ModelCfg(id="Qwen/Qwen3-14B-Base", revision="abc123", load_in_4bit=True, max_seq_length=8192)
    plain = unsloth_kwargs(cfg, cfg.id, "bfloat16", None)
    assert plain["use_exact_model_name"] is True and plain["fast_inference"] is False
    assert plain["revision"] == "abc123" and plain["model_name"] == "Qwen/Qwen3-14B-Base"
    assert "max_lora_rank" not in plain
    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda **kw: calls.append(kw) or "/hub/snapshots/abc123")
    fast = unsloth_kwargs(cfg, cfg.id, "bfloat16", VLLMSpec(max_lora_rank=32, gpu_memory_utilization=0.55))
    assert (fast["fast_inference"], fast["max_lora_rank"], fast["gpu_memory_utilization"]) == (True, 32, 0.55)
    assert fast["model_name"] == "/hub/snapshots/abc123" and fast["revision"] is None  # vLLM reads the pinned folder
    assert calls[0]["repo_id"] == "Qwen/Qwen3-14B-Base" and calls[0]["revision"] == "abc123"
    main = unsloth_kwargs(ModelCfg(id="Qwen/Qwen3-4B-Base"), "Qwen/Qwen3-4B-Base", "bfloat16",
                          VLLMSpec(8, 0.5))
    assert main["model_name"] == "Qwen/Qwen3-4B-Base" and len(calls) == 1


def test_grpo_vllm_path_loads_unsloth_fast_inference_with_the_recipes_rank(gpu_fakes, kit_cache, tmp_path):
    from kit.train.grpo import _trainable_model, grpo_config

    recipe = _recipe(model={"backend": "unsloth", "gpu_memory_utilization": 0.45}, lora={"r": 32, "alpha": 64},
                     grpo={"use_vllm": True})
    ctx = SimpleNamespace(recipe=recipe, hw=GPU, cache_root=kit_cache,
                          trainable_model=lambda: pytest.fail("the vLLM path loads its own model"))
    model, tok = _trainable_model(ctx)
    load = gpu_fakes.LOADS[-1]
    assert (load["fast_inference"], load["max_lora_rank"], load["gpu_memory_utilization"]) == (True, 32, 0.45)
    assert load["use_exact_model_name"] is True
    assert gpu_fakes.PEFT[-1]["r"] == 32
    assert model.vllm_engine.llm_engine.vllm_config.lora_config.max_lora_rank == 32  # reachable through PEFT
    cfg = grpo_config(recipe, GPU, tmp_path, 10, [1.0])
    assert (cfg.use_vllm, cfg.vllm_mode, cfg.vllm_gpu_memory_utilization) == (True, "colocate", 0.45)


def test_eval_model_starts_the_engine_for_the_largest_adapter_rank(gpu_fakes, monkeypatch, tmp_path):
    import kit.models
    from kit.run import Context

    recipe = _recipe(model={"backend": "unsloth"}, lora={"r": 32, "alpha": 64}, eval={"engine": "auto"},
                     arms=["sft", "grpo"])
    ctx = Context(recipe, GPU, None, tmp_path)
    for arm, r in (("sft", 32), ("grpo", 64)):
        (tmp_path / "arms" / arm / "adapter").mkdir(parents=True)
        (tmp_path / "arms" / arm / "adapter" / "adapter_config.json").write_text(json.dumps({"r": r}))
    seen = {}
    monkeypatch.setattr(kit.models, "load_base", lambda *a, **kw: seen.update(kw) or ("model", "tok", "unsloth"))
    monkeypatch.setattr(kit.models, "attach_adapters", lambda model, adapters: model)
    assert ctx.eval_engine_name == "vllm"
    ctx.eval_model()
    assert seen["vllm"].max_lora_rank == 64 and seen["vllm"].gpu_memory_utilization == recipe.model.gpu_memory_utilization


def test_eval_engine_choice():
    from kit.gen.vllm import choose_eval_engine

    assert choose_eval_engine(_recipe(eval={"engine": "auto"}), CPU) == "hf"
    assert choose_eval_engine(_recipe(model={"backend": "hf"}, eval={"engine": "auto"}), GPU) == "hf"
    with pytest.raises(KitError, match="eval.engine=vllm runs on unsloth"):
        choose_eval_engine(_recipe(model={"backend": "hf"}, eval={"engine": "vllm"}), GPU)
    with pytest.raises(KitError, match="eval.engine=vllm needs a CUDA GPU"):
        choose_eval_engine(_recipe(eval={"engine": "vllm"}), CPU)


def test_compare_models_load_through_vllm_in_bf16_where_they_fit(monkeypatch):
    import kit.models
    from kit.models import load_reference, reference_in_bf16, vllm_spec
    from kit.recipe import ModelRef

    recipe = _recipe(model={"id": "Qwen/Qwen3-14B-Base", "backend": "unsloth", "load_in_4bit": True,
                            "gpu_memory_utilization": 0.6}, arms=[],  # compare-only
                     compare={"rl": {"id": "ReasoningTransferability/UniReason-Qwen3-14B-RL"}})
    ref = ModelRef(id="ReasoningTransferability/UniReason-Qwen3-14B-RL", revision="main")
    small = Hardware(True, "A100 40GB", (8, 0), 39.4, True)
    assert reference_in_bf16(recipe, ref, GPU) is True and reference_in_bf16(recipe, ref, small) is False
    seen = []
    monkeypatch.setitem(kit.models.BACKENDS, "unsloth",
                        lambda cfg, path, dtype, hw, train, vllm=None: seen.append((cfg.load_in_4bit, dtype, vllm)))
    load_reference(recipe, ref, GPU, vllm=vllm_spec(recipe))
    load_reference(recipe, ref, small, vllm=vllm_spec(recipe))
    load_reference(recipe, ref, GPU)
    assert seen[0][:2] == (False, "bfloat16") and seen[0][2] is not None
    assert seen[1][:2] == (True, "bfloat16") and seen[2] == (True, "bfloat16", None)


# ---------------------------------------------------------------------------------------------------------
# the vLLM evaluation engine


class _FakePeftModel:
    """What the eval stage hands the engine: a PeftModel over unsloth's base (vllm_engine forwarded)."""

    def __init__(self, llm):
        self.vllm_engine = llm
        self.peft_config = {"sft": None, "grpo": None}
        self.base_model = SimpleNamespace(disable_adapter_layers=lambda: None, enable_adapter_layers=lambda: None)
        self.active = None

    def eval(self):
        return self

    def set_adapter(self, name):
        self.active = name


def _adapters(tmp_path, ranks):
    out = {}
    for name, r in ranks.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps({"r": r}))
        out[name] = tmp_path / name
    return out


def test_vllm_engine_uses_lora_requests_per_arm_and_a_seed_per_prompt(gpu_fakes, tokenizer, tmp_path):
    from vllm import LLM
    from vllm.lora.request import LoRARequest

    from kit.gen.decode import Decode
    from kit.gen.engine import make_engine

    llm = LLM(max_lora_rank=32)
    engine = make_engine("vllm", _FakePeftModel(llm), tokenizer, 8, _adapters(tmp_path, {"sft": 32, "grpo": 16}))
    decode = Decode(temperature=0.6, top_p=0.95, top_k=20, max_new_tokens=64, n_samples=2, stop=("\n\n",))
    engine.select("base")
    gens = engine.generate(["a", "a", "b"], decode, seed=5)
    assert llm.calls[-1]["lora_request"] is None
    assert [g.text for g in gens] == ["The answer is 42."] * 3 and gens[0].finished is True
    assert gens[0].token_ids[-1] == 151645
    params = llm.calls[-1]["params"]
    assert len({p.seed for p in params}) == 3  # two samples of one item in one batch must differ
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in params[0].stop_token_ids and params[0].stop == ["\n\n"]
    assert (params[0].temperature, params[0].top_p, params[0].top_k, params[0].max_tokens) == (0.6, 0.95, 20, 64)
    engine.select("grpo")
    engine.generate(["a"], decode, seed=5)
    req = llm.calls[-1]["lora_request"]
    assert isinstance(req, LoRARequest) and req.lora_name == "grpo" and req.lora_path == str(tmp_path / "grpo")
    engine.select("sft")
    engine.generate(["a"], Decode(temperature=0.0, max_new_tokens=8), seed=1)
    sft_req = llm.calls[-1]["lora_request"]
    assert sft_req.lora_int_id != req.lora_int_id
    greedy = llm.calls[-1]["params"][0]
    assert (greedy.temperature, greedy.top_p, greedy.top_k) == (0.0, 1.0, -1)
    engine.select("grpo")
    engine.generate(["a"], decode, seed=5)
    assert llm.calls[-1]["lora_request"] is req  # one request per arm, reused


def test_vllm_engine_refuses_an_adapter_above_the_engines_rank(gpu_fakes, tokenizer, tmp_path):
    from vllm import LLM

    from kit.gen.vllm import VLLMEngine

    with pytest.raises(KitError, match="LoRA rank 64 but the vLLM engine was started with max_lora_rank=16"):
        VLLMEngine(_FakePeftModel(LLM(max_lora_rank=16)), tokenizer, _adapters(tmp_path, {"grpo": 64}))
    with pytest.raises(KitError, match="eval.engine=vllm needs the base loaded with unsloth's vLLM engine"):
        VLLMEngine(SimpleNamespace(), tokenizer, {})


def test_run_start_refuses_a_rollout_path_no_backend_can_run():
    """Checked by check_gpu_settings before any stage, so an SFT arm does not train for hours first."""
    from kit.hardware import check_gpu_settings

    bad = _recipe(model={"backend": "hf", "load_in_4bit": True}, grpo={"use_vllm": True})
    with pytest.raises(KitError, match="model.load_in_4bit=true: TRL's vLLM"):
        check_gpu_settings(bad, GPU)
    check_gpu_settings(_recipe(model={"backend": "hf", "load_in_4bit": True}, grpo={"use_vllm": True}, arms=["sft"]),
                       GPU)  # no GRPO arm: nothing to refuse


@pytest.mark.slow
def test_real_grpo_run_reuses_a_rollout_across_steps_in_chunked_generate_calls(tmp_path, kit_cache, monkeypatch):
    """The CPU twin of the non-vLLM GPU path: TRL's real trainer with a rollout batch serving two optimizer steps
    (steps_per_generation=2, grad_accum=1: clipping can act) generated in calls of at most generation_chunk rows."""
    import kit.train.grpo as grpo
    from kit.data.train_sets import build
    from kit.plan import make_plan
    from kit.run import Context

    r = recipe_mod.load(ROOT / "recipes" / "smoke.yaml", [
        f"output_dir={tmp_path}", "data.num_problems=4", "grpo.max_steps=2", "grpo.grad_accum=1",
        "grpo.prompts_per_step=1", "grpo.num_generations=4", "grpo.steps_per_generation=2",
        "grpo.generation_chunk=3", "grpo.max_completion_length=8"])
    ctx = Context(r, CPU, make_plan(r, CPU, "float32"), r.run_dir)
    build(r, ctx.tokenizer(), 4, r.run_dir / "data")
    sizes: list[int] = []
    real_chunk = grpo.chunk_generate

    def spy(model, chunk):
        inner = model.generate
        model.generate = lambda **kw: sizes.append(kw["input_ids"].shape[0]) or inner(**kw)
        real_chunk(model, chunk)

    monkeypatch.setattr(grpo, "chunk_generate", spy)
    monkeypatch.setattr(grpo, "build_rewards", lambda *a, **k: (
        [lambda prompts, completions, **kw: [float(len(c) % 3) for c in completions]], [1.0]))
    out = ctx.run_dir / "arms" / "grpo"
    out.mkdir(parents=True)
    grpo.run(ctx, out)
    assert sizes == [3, 3, 2]  # one rollout of 1 prompt x 4 x 2 micro-batches = 8 completions, for both steps
    logged = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "loss" in row] == [1, 2]


def test_reference_engine_runs_compare_models_through_their_own_vllm_engine(gpu_fakes, monkeypatch, tokenizer):
    """For the eval stage's compare loop: a vLLM engine per compare model (bf16 where it fits), the previous one
    released through unsloth_zoo's delete_vllm."""
    from types import ModuleType

    import kit.models
    from vllm import LLM

    from kit.gen.vllm import VLLMEngine, reference_engine, release

    recipe = _recipe(model={"backend": "unsloth", "load_in_4bit": True}, eval={"engine": "auto"}, arms=[],
                     compare={"rl": {"id": "ReasoningTransferability/UniReason-Qwen3-14B-RL"}})
    seen = []

    def loader(cfg, path, dtype, hw, train, vllm=None):
        seen.append((path, cfg.load_in_4bit, dtype, vllm))
        return _FakePeftModel(LLM(max_lora_rank=vllm.max_lora_rank))

    monkeypatch.setitem(kit.models.BACKENDS, "unsloth", loader)
    ctx = SimpleNamespace(recipe=recipe, hw=GPU, eval_engine_name="vllm")
    engine, model = reference_engine(ctx, "rl", tokenizer, 4)
    assert isinstance(engine, VLLMEngine) and engine.llm is model.vllm_engine
    assert seen[0][:3] == ("ReasoningTransferability/UniReason-Qwen3-14B-RL", False, "bfloat16")
    deleted = []
    zoo = ModuleType("unsloth_zoo.vllm_utils")
    zoo.delete_vllm = deleted.append
    monkeypatch.setitem(sys.modules, "unsloth_zoo", ModuleType("unsloth_zoo"))
    monkeypatch.setitem(sys.modules, "unsloth_zoo.vllm_utils", zoo)
    release(engine)
    release(SimpleNamespace())  # an HF engine: nothing to free
    assert deleted == [model.vllm_engine]


def test_run_start_check_imports_nothing_unsloth_must_patch_first():
    """check_gpu_settings runs before `import unsloth` in kit.run; transformers, peft or trl imported earlier
    would miss unsloth's patches."""
    import subprocess

    code = ("import sys; from kit import recipe as R; from kit.hardware import Hardware, check_gpu_settings; "
            "r = R.load('recipes/qwen3-4b.yaml'); check_gpu_settings(r, Hardware(True, 'x', (9, 0), 80.0, True)); "
            "print(sorted(m for m in ('transformers', 'peft', 'trl', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_vllm_engine_scores_loglik_at_the_recipes_batch_size(gpu_fakes, tokenizer, tmp_path):
    """make_engine hands eval.batch_size to the vLLM engine's log-likelihood path (it used to stay at 8)."""
    from vllm import LLM

    from kit.gen.engine import make_engine

    engine = make_engine("vllm", _FakePeftModel(LLM(max_lora_rank=32)), tokenizer, 3, _adapters(tmp_path, {"sft": 8}))
    assert engine._hf.batch_size == 3


def test_probe_loads_the_model_without_a_vllm_engine(monkeypatch, tmp_path):
    """The probe only runs forward passes: with eval.engine=vllm its model must not start unsloth's engine, which
    would hold model.gpu_memory_utilization of the GPU idle."""
    import kit.models
    import kit.probe.stage
    from kit.run import Context

    seen: list = []

    def fake_load_base(recipe, hw, cache_root, for_training=False, vllm=None):
        seen.append(vllm)
        raise RuntimeError("stop here")

    monkeypatch.setattr(kit.models, "load_base", fake_load_base)
    monkeypatch.setattr(Context, "eval_engine_name", property(lambda self: "vllm"))
    monkeypatch.setattr(Context, "adapters", lambda self: {})
    ctx = Context(_recipe(output_dir=str(tmp_path)), None, None, tmp_path)
    with pytest.raises(RuntimeError, match="stop here"):
        ctx.eval_model(vllm_engine=False)
    assert seen == [None]
    src = Path(kit.probe.stage.__file__).read_text()
    assert "ctx.eval_model(vllm_engine=False)" in src and "ctx.eval_model()" not in src
