"""Post-training weight quantization (phase 26) and the verb-corpus MiniGPT it is measured on."""
