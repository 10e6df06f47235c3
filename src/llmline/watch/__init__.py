"""Stream monitoring applications: the financial opinion monitor (`llmline watch`)."""
