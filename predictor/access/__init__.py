"""Who may ask and how often: the client address, rate limits, API keys, the access log."""
