"""T5.1.1-style encoder-decoder, its losses and FLOPs, and trie-constrained decoding."""

from genrec.model.config import ModelConfig
from genrec.model.network import EncoderDecoder

__all__ = ["ModelConfig", "EncoderDecoder"]
