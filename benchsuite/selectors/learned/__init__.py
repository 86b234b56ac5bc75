"""Learned selectors: trained on a labelled budget of cells, they rank any cells and (but ridge)
search (ctnas: a pairwise comparator and an RL controller; nao: an LSTM encoder-predictor-decoder;
tnao: a transformer auto-encoder searched by competitive swarm optimisation; ridge: ridge
regression on the one-hot cell encoding, the ranking-only yardstick at the same labelled budget)."""
