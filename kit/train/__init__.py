"""Training arms: each trains a LoRA adapter from the same base model. The arms are registered in
kit/train/arms.py (kit.registry.ARMS); their trainers live in sft.py, grpo.py and onpolicy_sft.py."""
