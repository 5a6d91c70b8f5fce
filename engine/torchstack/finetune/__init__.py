"""Parameter-efficient fine-tuning: LoRA, QLoRA and their parameter/memory counts (phase 28)."""
