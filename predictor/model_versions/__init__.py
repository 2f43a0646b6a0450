"""Model files and their versions: reading, storing, upload checks, bundled defaults, baselines."""
