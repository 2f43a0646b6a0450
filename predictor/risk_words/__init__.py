"""Risk in words (issue 16, items 4 and 7): what the outcome means today, a natural frequency
with a fixed denominator, and an icon array of 100 drawn on the server."""
