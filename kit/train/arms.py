"""The kit's four training arms, registered with what the plan, the report and the study need (no trl imported
here: each trainer is named as "module:function" and imported when the arm trains)."""

from __future__ import annotations

from kit.registry import Arm, register_arm

register_arm(Arm("sft", "SFT (off-policy)", "#d62728", "sft", ("sft",), "kit.train.sft:run",
                 "kit.plan.arms:sft_stage", needs=("sft",),
                 description="supervised fine-tuning on the teacher's responses (off-policy)"))


def grpo_settings(recipe, hw) -> None:
    """On a GPU, a rollout path the card can run (whether vllm is installed is the plan's refusal, not this one's).
    kit.train.rollouts imports no transformers: unsloth is not yet loaded when this runs."""
    if hw.cuda:
        from kit.train.rollouts import generation_mode

        generation_mode(recipe, hw, check_installed=False)


register_arm(Arm("grpo", "GRPO (on-policy RL)", "#1f77b4", "rl", ("grpo",), "kit.train.grpo:run",
                 "kit.plan.arms:grpo_stage", needs=("rl",), check="kit.train.arms:grpo_settings",
                 description="GRPO on the same problems, rewarded by the math verifier (on-policy)"))
register_arm(Arm("onpolicy_sft", "SFT on own answers", "#2ca02c", "ablation", ("sft", "onpolicy"),
                 "kit.train.onpolicy_sft:run", "kit.plan.arms:onpolicy_sft_stage", needs=("sft",),
                 description="the paper's ablation: SFT on the model's own correct answers",
                 multiprocess=False))  # its sampling rounds are not sharded: one process, also on a multi-GPU node
register_arm(Arm("sft_matched_lr", "SFT at the RL learning rate", "#8c8c8c", "control", ("sft", "grpo.learning_rate"),
                 "kit.train.sft:run_matched_lr", "kit.plan.arms:sft_stage", needs=("sft",),
                 description="control: off-policy SFT at GRPO's learning rate"))
