"""Torch-free engine support: a USI client with deadlines (`usi`), engine specs and the ladder with
its anchored Elo (`ladder`), move judgement (`judge`) and the shipped opening book (`book`).

Importable on its own: the server uses it for live analysis without torch.
"""
