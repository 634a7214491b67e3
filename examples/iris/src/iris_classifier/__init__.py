"""Iris classifier: Predicts the species of an iris flower."""
