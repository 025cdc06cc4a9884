"""Labels, samples and splits; training the BiLSTM and the TF-IDF+LR baseline; metrics and evaluation on labelled sources."""
