"""The pieces every stage shares: the data root's layout, the schemas, settings, errors and the retry rule, pointer swaps."""
