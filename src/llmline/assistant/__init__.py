"""The customer-service assistant: intent routing, KB answers with citations, hand-off tickets.

`core.Assistant` is the entry point; `llmline kb ask`, POST /v1/assistant and the chat route's
`knowledge_base` field call it.
"""
