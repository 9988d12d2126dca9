"""The paper's object-aware image-to-audio diffusion: conditioner, mask substitution, sampler, loading."""
