"""Tools on top of the codec: speed and quantizer benchmarks, sampling the latent space."""
