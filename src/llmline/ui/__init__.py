"""The web console (`llmline ui`): runs, lineage, registry, monitoring, labeling, playgrounds."""
