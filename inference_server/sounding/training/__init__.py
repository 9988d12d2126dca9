"""`sounding train`: noise-prediction training of the object-aware conditioner and the diffusion model."""
