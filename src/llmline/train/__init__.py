"""The model link: fine-tuning per task head, and the controls around it."""
