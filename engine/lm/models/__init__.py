"""Models on the engine's stacks: Mini-GPT (NumPy) and its torch twin, attention (reference and torch),
GQA, MoE, MLA, sequence models, the model registry. BK-Core lives in `engine.research.bk`."""
