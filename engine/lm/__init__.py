"""The language-model pipeline on the scratch stack: text, models (torch twins end in `_torch`), training,
evaluation, inference, training dynamics."""
