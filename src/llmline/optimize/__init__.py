"""The optimize link: quantized, ONNX, pruned and distilled variants, measured and gated."""
