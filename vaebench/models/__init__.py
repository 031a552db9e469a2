"""Models behind one evaluation interface: encode, decode, sample, log_likelihood_bound."""
