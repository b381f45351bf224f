"""The server side of Shogi Showcase (FastAPI, no torch)."""
