"""Generative models on images: autoencoders, VAEs (β-VAE, β-TCVAE, FactorVAE, ...), the GAN family and the
sprite GAN, each chosen by name (`genlab.models`) and trained by one loop (`genlab.train`); the procedural
`shapes` data with its exact sample judge (`genlab.quality`) and the disentanglement metrics (`genlab.metrics`)."""
