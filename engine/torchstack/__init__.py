"""Code written on torch: PyTorch internals (dispatcher, custom ops), quantization, fine-tuning."""
