"""The store APIs on the event log: the transcript-store API (whole transcripts),
the asset-store API (session assets) and the Q&A and trace store (Q&A, graph
context and agent traces), each with the calls and results of the session-store
API it stands in for."""
