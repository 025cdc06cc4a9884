"""A CheckList-style behavioural suite (Ribeiro et al. 2020) of our own: labelled cases
generated from templates and lexicons written here (never drawn from the corpus), and the
accuracy of the network alone, the default model and TF-IDF+LR per capability."""
