"""Class-conditional VAE (Sohn et al. 2015; the lecture's CVAE).

The one-hot label y is fed to both encoder and decoder; the prior stays N(0, I), so the
objective is the standard CVAE ELBO  E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z)).
With the class supplied, z is free to carry "style" (probe_acc on z measures what class
information is left in it).

Its bounds given the true label (bound_terms with y) are the `*_cond` columns; its `iwae` column
is the bound on log p(x) = log sum_y p(y) p(x|y) over every class (vaebench.runner.evaluate.
marginal_iwae), and `elbo` stays empty: a marginal ELBO needs a q(y|x), which this model has not.
"""

from vaebench.models.vae import VAE


class CVAE(VAE):
    conditional = True
