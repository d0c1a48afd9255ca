"""Judge training: pair data, oversampling, backbones (MiniLM cross-encoder, Qwen3 + LoRA), export."""
