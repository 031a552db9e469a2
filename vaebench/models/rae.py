"""Regularised autoencoder, RAE-L2 (Ghosh, Sajjadi, Vergari, Black & Schölkopf 2020, From variational
to deterministic autoencoders, ICLR).

A deterministic autoencoder z = E(x) trained on
    L = L_REC + beta * L_Z + lambda * L_REG,
L_Z a penalty on the code's size (it replaces the VAE's KL to keep the code space compact) and
L_REG a decoder regulariser (it replaces the smoothing the VAE's noise gave the decoder). Of the
paper's three decoder regularisers (RAE-GP gradient penalty, RAE-L2 weight decay, RAE-SN spectral
norm) this is RAE-L2, the simplest: L_REG = sum of the squared decoder weights (not biases).
A generative model only with its ex-post density: after training (`after_training`) a
10-component full-covariance Gaussian mixture is fitted to the encoded train split
(vaebench.metrics.code_gmm, fixed seed) and `sample` decodes draws from it.

Scales and values, from the official code (ParthaEth/Regularized_autoencoders-RAE-), whose
configuration produced the paper's numbers, so that beta and lambda keep their meaning:
  * L_REC = squared error summed over channels, averaged over pixel positions
    (models/rae/loss_functions.py `per_pix_recon_loss`; the paper writes ||x - x_hat||^2);
  * L_Z = mean_i z_i^2 over the latent dims (`embeddig_loss`; the paper writes 1/2 ||z||^2, the
    same up to the factor 2 / d);
  * L_REG = sum of squared decoder kernel weights (Keras' l2 kernel regulariser);
  * MNIST RAE-L2 (configurations/config.py, 'RAE-L2'): beta = 1e-4 (`embedding_weight`),
    lambda = 1e-7 (`gen_reg_weight`) -> `beta` and `decoder_l2` here.
The cost is therefore the paper's squared error and not the AE's Bernoulli cross-entropy: beta and
lambda were tuned against it (the WAE makes the same choice, see vaebench.models.wae_mmd). The
decoder's output is the sigmoid mean, as for the AE.

No likelihood bound (elbo, iwae, rec_nll, kl and bpd stay empty); FID adds fid_samples_fitted
and fid_samples_gmm as for every deterministic model, and its fid_samples are this GMM's samples.
The mixture is stored in buffers, so it is saved and restored with the weights.
"""

from __future__ import annotations

import torch

from vaebench.metrics.code_gmm import GMM_COMPONENTS, encode_codes, fit_code_gmm, sample_code_gmm
from vaebench.models.base import LatentModel
from vaebench.models.networks import Decoder, Encoder


def rae_losses(x: torch.Tensor, mean: torch.Tensor, z: torch.Tensor, decoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The three RAE-L2 terms: rec (N,), code (N,), and the decoder's weight norm (a scalar)."""
    rec = (x - mean).pow(2).sum(1).flatten(1).mean(1)  # channels summed, pixel positions averaged
    code = z.pow(2).mean(1)
    reg = sum(p.pow(2).sum() for name, p in decoder.named_parameters() if p.dim() > 1)
    return {"rec": rec, "code": code, "decoder_l2": reg}


class RAE(LatentModel):
    SAMPLES = f"z ~ the {GMM_COMPONENTS}-component Gaussian mixture fitted ex post to the train codes, through the decoder"

    def __init__(self, image_shape, latent_dim: int, num_classes: int = 10, lr: float = 1e-3, beta: float = 1e-4,
                 decoder_l2: float = 1e-7):
        super().__init__(image_shape, latent_dim, num_classes, lr)
        self.save_hyperparameters()
        self.beta, self.decoder_l2 = beta, decoder_l2
        self.encoder = Encoder(self.image_shape, latent_dim)
        self.decoder = Decoder(latent_dim, self.image_shape)
        k, d = GMM_COMPONENTS, latent_dim
        self.register_buffer("gmm_weights", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("gmm_means", torch.zeros(k, d, dtype=torch.float64))
        self.register_buffer("gmm_covariances", torch.zeros(k, d, d, dtype=torch.float64))

    def encode(self, x, y=None):
        return self.encoder(x), None

    def decode(self, z, y=None):
        return torch.sigmoid(self.decoder(z.to(self.dtype)))

    def objective(self, x, y=None):
        z = self.encoder(x)
        t = rae_losses(x, torch.sigmoid(self.decoder(z)), z, self.decoder)
        loss = (t["rec"] + self.beta * t["code"]).mean() + self.decoder_l2 * t["decoder_l2"]
        return {"loss": loss, **t}

    # ---- the ex-post density
    @property
    def gmm(self) -> dict[str, torch.Tensor]:
        return {"weights": self.gmm_weights, "means": self.gmm_means, "covariances": self.gmm_covariances}

    def after_training(self, splits) -> None:
        """Fit the mixture to the encoded train split (every rank fits the same one: it is deterministic)."""
        for name, value in fit_code_gmm(encode_codes(self, splits.train_x, splits.train_y)).items():
            setattr(self, f"gmm_{name}", value.to(self.gmm_weights.device))  # float64, whatever the weights' precision

    def sample(self, n: int, y=None, generator=None):
        if float(self.gmm_weights.sum()) == 0.0:
            raise RuntimeError("RAE.sample needs the ex-post mixture: call after_training(splits) first")
        return self.decode(sample_code_gmm(self.gmm, n, generator).to(self.device))
