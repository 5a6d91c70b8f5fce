"""Pre-transformer sequence models (phase 14): corpus tokenization, n-gram LM, RNN/GRU/LSTM."""
