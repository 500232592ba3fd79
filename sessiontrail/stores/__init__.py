"""The seed-compatible stores: whole transcripts (seed 3), session assets
(seed 4) and Q&A, graph context and agent traces (seed 5), on the event log."""
