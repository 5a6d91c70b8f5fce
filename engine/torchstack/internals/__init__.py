"""PyTorch internals made observable (phase 25): dispatcher traces, hand-derived linear
gradients and the grad_fn graph, and a softmax registered as a custom operator."""
