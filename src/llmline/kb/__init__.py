"""Knowledge bases for the customer-service assistant: ingest, chunk, index, retrieve.

`base.KnowledgeBase` is the entry point; `llmline kb ...` and the assistant call it.
"""
