"""Audio front end: AudioLDM-compatible log-mel spectrograms, Griffin-Lim inversion, WAV/FLAC io."""
