// Tensor users draw their randomness from SeededRNG; re-exported so they need one import.
@_exported import SeededRandom
