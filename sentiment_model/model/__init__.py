"""The network and what travels with it: tokenizers, vectors, batching, the classifier a scorer loads, the registry, export."""
