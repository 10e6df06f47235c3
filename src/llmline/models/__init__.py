"""Model references and the model types llmline trains, saves and loads."""
