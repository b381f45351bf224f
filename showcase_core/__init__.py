"""The torch-free core both processes import: the rules (`shogi`), the wire protocol (`protocol`),
the trainer's link client (`publisher`) and the USI engines (`engines`). Nothing here imports torch,
so the server, its tests and its benchmarks never load it."""
