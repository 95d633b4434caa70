"""Generative models on images: data first (the procedural `shapes` set, MNIST IDX files, image folders)."""
