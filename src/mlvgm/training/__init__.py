"""Training loops for the generative models and the classifiers."""
