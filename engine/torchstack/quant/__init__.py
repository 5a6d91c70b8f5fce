"""Post-training weight quantization (phase 26): scales and codes, GPTQ, fake-quant and real INT8-kernel Linears, GGUF-lite."""
