"""The trainer side of Shogi Showcase: self-play PPO, insight, and the live publisher."""
