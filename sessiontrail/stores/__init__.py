"""The store APIs on the event log: the transcript-store API (whole transcripts),
the asset-store API (session assets) and the Q&A and trace store (Q&A, graph
context and agent traces). Their source contracts: ../shared/seeds/3-*, 4-*, 5-*."""
