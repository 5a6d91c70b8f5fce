"""This machine as a compute substrate: profile, bandwidth, cache walk, peak FLOP/s, roofline."""
