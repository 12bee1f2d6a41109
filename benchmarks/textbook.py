"""The textbook baseline: the book's data pipeline and training steps, re-implemented faithfully.

*Learn Generative AI with PyTorch* (Manning, 2024), chapters 4-6. Nothing here imports
``gan_course``: this is what the course is measured against, so it must stay the book's code
(modernised only where current PyTorch would refuse it), including the parts the course changes
on purpose. Each difference is listed where the course's version lives; in short:

=============================  =====================================  ===============================
piece                          book (this file)                       course (``gan_course``)
=============================  =====================================  ===============================
data                           ``ImageFolder`` + ``Resize``/``ToTensor``  decode once into a uint8
                               /``Normalize``, decoded every epoch      memmap, two ops per batch
DCGAN discriminator output     ``Sigmoid`` + ``BCELoss``                logits + BCE-with-logits
DCGAN step                     D on real; D on *fresh* fakes (backward  one generator pass; D on
                               runs through G too); G on fresh fakes    real + detached fakes; G
                                                                        through a frozen D
cWGAN-GP critic steps          fakes made *with* G's graph; critic and  fakes under ``no_grad``; no
                               penalty backprop into G;                 graph kept; penalty on
                               ``backward(retain_graph=True)``          detached inputs
cGAN data                      list of (img, label, onehot, 5-channel   uint8 images + int labels;
                               float image) per example                 label planes built per batch
CycleGAN                       sigmoid PatchGAN + MSE; D's weights get  raw PatchGAN scores + MSE;
                               gradients during the generator update    D frozen in the G update
=============================  =====================================  ===============================

Model sizes are parameters so that the benchmark compares the same network widths on both sides;
the defaults are the book's.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

# ----------------------------------------------------------------------------- shared (ch. 5)


def weights_init(m: nn.Module) -> None:
    """The book's initialisation: Conv/ConvTranspose N(0, 0.02); BatchNorm N(1, 0.02), bias 0."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


# ----------------------------------------------------------------------------- ch. 4: DCGAN
def dcgan_discriminator(features: int = 64) -> nn.Sequential:
    """The book's anime-face discriminator: ``(B, 3, 64, 64)`` -> probability ``(B, 1)``."""
    f = features
    return nn.Sequential(
        nn.Conv2d(3, f, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(f, f * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(f * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(f * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(f * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(f * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
        nn.Flatten())


def dcgan_generator(features: int = 64, latent_dim: int = 100) -> nn.Sequential:
    """The book's anime-face generator: noise ``(B, 100, 1, 1)`` -> ``(B, 3, 64, 64)``."""
    f = features
    return nn.Sequential(
        nn.ConvTranspose2d(latent_dim, f * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(f * 8),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(f * 8, f * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(f * 4),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(f * 4, f * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(f * 2),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(f * 2, f, 4, 2, 1, bias=False),
        nn.BatchNorm2d(f),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(f, 3, 4, 2, 1, bias=False),
        nn.Tanh())


class DCGANTrainer:
    """The book's chapter-4 training step: ``train_D_on_real``, ``train_D_on_fake``, ``train_G``.

    Every call draws new noise and runs the generator again; ``train_D_on_fake`` does not
    detach the fakes, so its ``backward()`` also computes generator gradients (which the next
    ``optimG.zero_grad()`` throws away). Loss: ``BCELoss`` on the discriminator's sigmoid.
    """

    def __init__(self, features: int = 64, latent_dim: int = 100, lr: float = 0.0002,
                 betas: tuple[float, float] = (0.5, 0.999), device: str | torch.device = "cpu"):
        self.device, self.latent_dim = torch.device(device), latent_dim
        self.G = dcgan_generator(features, latent_dim).to(self.device)
        self.D = dcgan_discriminator(features).to(self.device)
        self.G.apply(weights_init)
        self.D.apply(weights_init)
        self.loss_fn = nn.BCELoss()
        self.optimG = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.optimD = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)

    def train_D_on_real(self, real_samples: torch.Tensor) -> torch.Tensor:
        real_samples = real_samples.to(self.device)
        preds = self.D(real_samples)
        labels = torch.ones((real_samples.shape[0], 1)).to(self.device)
        loss_D = self.loss_fn(preds, labels)
        self.optimD.zero_grad()
        loss_D.backward()
        self.optimD.step()
        return loss_D

    def train_D_on_fake(self, batch_size: int) -> torch.Tensor:
        noise = torch.randn(batch_size, self.latent_dim, 1, 1).to(self.device)
        generated_data = self.G(noise)
        preds = self.D(generated_data)
        fake_labels = torch.zeros((batch_size, 1)).to(self.device)
        loss_D = self.loss_fn(preds, fake_labels)
        self.optimD.zero_grad()
        loss_D.backward()
        self.optimD.step()
        return loss_D

    def train_G(self, batch_size: int) -> torch.Tensor:
        noise = torch.randn(batch_size, self.latent_dim, 1, 1).to(self.device)
        generated_data = self.G(noise)
        preds = self.D(generated_data)
        real_labels = torch.ones((batch_size, 1)).to(self.device)
        loss_G = self.loss_fn(preds, real_labels)
        self.optimG.zero_grad()
        loss_G.backward()
        self.optimG.step()
        return loss_G

    def step(self, real_samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One iteration of the book's inner loop on a batch ``(B, 3, 64, 64)`` in [-1, 1]."""
        b = real_samples.shape[0]
        return self.train_D_on_real(real_samples), self.train_D_on_fake(b), self.train_G(b)


# ----------------------------------------------------------------------------- ch. 5: cWGAN-GP
def _stride2_layers(img_size: int) -> int:
    n = int(math.log2(img_size)) - 2
    if img_size < 32 or 2 ** (n + 2) != img_size:
        raise ValueError(f"img_size must be a power of two >= 32, got {img_size}")
    return n


class Critic(nn.Module):
    """The book's critic for 5-channel inputs (3 image channels + 2 label planes).

    ``Conv(4,2,1) -> LeakyReLU``, then blocks ``Conv(4,2,1, bias=False) -> InstanceNorm(affine)
    -> LeakyReLU`` doubling the width down to 4x4, then ``Conv(4,2,0)`` to one score. At 256x256
    with ``features=16`` this is the book's 7-layer critic (16 -> 512 channels); smaller
    ``img_size`` drops the first blocks, exactly like the course's critic.
    """

    def __init__(self, img_channels: int = 5, features: int = 16, img_size: int = 256):
        super().__init__()
        n = _stride2_layers(img_size)
        widths = [features * 2 ** i for i in range(n)]
        layers: list[nn.Module] = [nn.Conv2d(img_channels, features, kernel_size=4, stride=2,
                                             padding=1), nn.LeakyReLU(0.2)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers.append(self.block(c_in, c_out, 4, 2, 1))
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size=4, stride=2, padding=0))
        self.net = nn.Sequential(*layers)

    def block(self, in_channels, out_channels, kernel_size, stride, padding):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.net(x)


class Generator(nn.Module):
    """The book's conditional generator: ``noise || onehot`` as ``(B, 102, 1, 1)`` -> image.

    Blocks ``ConvTranspose(bias=False) -> BatchNorm -> ReLU`` from 1x1 to ``img_size / 2``, then
    ``ConvTranspose(4,2,1) -> Tanh``. At 256x256, ``features=16``: the book's widths
    1024 -> 32 -> 3.
    """

    def __init__(self, noise_channels: int = 102, img_channels: int = 3, features: int = 16,
                 img_size: int = 256):
        super().__init__()
        n = _stride2_layers(img_size)
        widths = [features * 2 ** (n - i) for i in range(n)]
        layers: list[nn.Module] = [self.block(noise_channels, widths[0], 4, 1, 0)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers.append(self.block(c_in, c_out, 4, 2, 1))
        layers += [nn.ConvTranspose2d(widths[-1], img_channels, kernel_size=4, stride=2,
                                      padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def block(self, in_channels, out_channels, kernel_size, stride, padding):
        return nn.Sequential(
            nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                               bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU())

    def forward(self, x):
        return self.net(x)


def GP(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The book's gradient penalty: alpha repeated to full size; ``fake`` is NOT detached, so the
    penalty's backward also runs (twice-differentiated) through the generator."""
    B, C, H, W = real.shape
    alpha = torch.rand((B, 1, 1, 1)).repeat(1, C, H, W).to(real.device)
    interpolated_images = real * alpha + fake * (1 - alpha)
    critic_scores = critic(interpolated_images)
    gradient = torch.autograd.grad(
        inputs=interpolated_images,
        outputs=critic_scores,
        grad_outputs=torch.ones_like(critic_scores),
        create_graph=True,
        retain_graph=True)[0]
    gradient = gradient.view(gradient.shape[0], -1)
    gradient_norm = gradient.norm(2, dim=1)
    return torch.mean((gradient_norm - 1) ** 2)


class CGANTrainer:
    """The book's chapter-5 ``train_batch``: 5 critic updates, then one generator update.

    Each critic update regenerates fakes *with* the generator's graph, and calls
    ``loss_critic.backward(retain_graph=True)`` so that the generator update at the end can
    backpropagate ``critic(fake)`` (fakes of the last critic iteration) through that graph.
    """

    def __init__(self, img_size: int = 256, features: int = 16, z_dim: int = 100,
                 num_classes: int = 2, lr: float = 0.0001, betas: tuple[float, float] = (0.0, 0.9),
                 critic_iters: int = 5, device: str | torch.device = "cpu"):
        self.device, self.z_dim, self.num_classes = torch.device(device), z_dim, num_classes
        self.critic_iters = critic_iters
        self.gen = Generator(z_dim + num_classes, 3, features, img_size).to(self.device)
        self.critic = Critic(3 + num_classes, features, img_size).to(self.device)
        self.gen.apply(weights_init)
        self.critic.apply(weights_init)
        self.opt_gen = torch.optim.Adam(self.gen.parameters(), lr=lr, betas=betas)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=lr, betas=betas)

    def train_batch(self, onehots: torch.Tensor, img_and_labels: torch.Tensor):
        """``onehots (B, 2)``, ``img_and_labels (B, 5, S, S)`` -> (loss_critic, loss_gen)."""
        gen, critic, device = self.gen, self.critic, self.device
        real = img_and_labels.to(device)
        B = real.shape[0]
        for _ in range(self.critic_iters):
            noise = torch.randn(B, self.z_dim, 1, 1)
            onehots = onehots.reshape(B, self.num_classes, 1, 1)
            noise_and_labels = torch.cat([noise, onehots], dim=1).to(device)
            fake_img = gen(noise_and_labels).to(device)
            fakelabels = img_and_labels[:, 3:, :, :].to(device)
            fake = torch.cat([fake_img, fakelabels], dim=1).to(device)

            critic_real = critic(real).reshape(-1)
            critic_fake = critic(fake).reshape(-1)
            gp = GP(critic, real, fake)

            loss_critic = (-(torch.mean(critic_real) - torch.mean(critic_fake)) + 10 * gp)
            critic.zero_grad()
            loss_critic.backward(retain_graph=True)
            self.opt_critic.step()

        gen_fake = critic(fake).reshape(-1)
        loss_gen = -torch.mean(gen_fake)
        gen.zero_grad()
        loss_gen.backward()
        self.opt_gen.step()
        return loss_critic, loss_gen


def cgan_example(img: torch.Tensor, label: int, num_classes: int = 2) -> tuple:
    """One entry of the book's ``newdata`` list (listing 5.6): ``(img, label, onehot,
    img_and_label)`` with ``img_and_label`` the image plus one constant plane per class."""
    size = img.shape[-1]
    onehot = torch.zeros(num_classes)
    onehot[label] = 1
    channels = torch.zeros((num_classes, size, size))
    channels[label, :, :] = 1  # book: `if label==0: channels[0]=1 else: channels[1]=1`
    img_and_label = torch.cat([img, channels], dim=0)
    return img, label, onehot, img_and_label


def cgan_batch(images: torch.Tensor, labels: torch.Tensor,
               num_classes: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A collated batch of the book's representation: ``(onehots (B, K), img_and_labels
    (B, 3 + K, S, S))`` from ``images (B, 3, S, S)`` and ``labels (B,)``."""
    items = [cgan_example(img, int(lab), num_classes) for img, lab in zip(images, labels)]
    return (torch.stack([it[2] for it in items]), torch.stack([it[3] for it in items]))


def eyeglasses_dataset(folder, imgsz: int = 256, keep_image: bool = True) -> list:
    """The book's eyeglasses data (listing 5.6): ``ImageFolder`` with ``Resize``/``ToTensor``/
    ``Normalize``, every image decoded once into a Python list of float tensors
    ``(img (3, S, S), label, onehot (2,), img_and_label (5, S, S))``.

    ``keep_image=False`` stores only ``(onehot, img_and_label)`` - not the book's code, a
    leaner variant used to show that the comparison does not hinge on the duplicate ``img``.
    """
    import torchvision
    import torchvision.transforms as T

    transform = T.Compose([
        T.Resize((imgsz, imgsz)),
        T.ToTensor(),
        T.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])])
    data_set = torchvision.datasets.ImageFolder(root=str(folder), transform=transform)
    newdata = []
    for _i, (img, label) in enumerate(data_set):
        example = cgan_example(img, label)
        newdata.append(example if keep_image else (example[2], example[3]))
    return newdata


# ----------------------------------------------------------------------------- ch. 6: CycleGAN
class Block(nn.Module):
    """Discriminator block: ``Conv(4, stride, 1, reflect) -> InstanceNorm -> LeakyReLU(0.2)``."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 4, stride, 1, bias=True,
                      padding_mode="reflect"),
            nn.InstanceNorm2d(out_channels),
            nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x):
        return self.conv(x)


class Discriminator(nn.Module):
    """The book's PatchGAN discriminator, ending in ``torch.sigmoid``."""

    def __init__(self, in_channels=3, features=(64, 128, 256, 512)):
        super().__init__()
        features = list(features)
        self.initial = nn.Sequential(
            nn.Conv2d(in_channels, features[0], kernel_size=4, stride=2, padding=1,
                      padding_mode="reflect"),
            nn.LeakyReLU(0.2, inplace=True))
        layers = []
        in_channels = features[0]
        for feature in features[1:]:
            layers.append(Block(in_channels, feature, stride=1 if feature == features[-1] else 2))
            in_channels = feature
        layers.append(nn.Conv2d(in_channels, 1, kernel_size=4, stride=1, padding=1,
                                padding_mode="reflect"))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        out = self.model(self.initial(x))
        return torch.sigmoid(out)


class ConvBlock(nn.Module):
    """Generator block: (transposed) conv -> InstanceNorm -> ReLU (or identity)."""

    def __init__(self, in_channels, out_channels, down=True, use_act=True, **kwargs):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, padding_mode="reflect", **kwargs)
            if down else nn.ConvTranspose2d(in_channels, out_channels, **kwargs),
            nn.InstanceNorm2d(out_channels),
            nn.ReLU(inplace=True) if use_act else nn.Identity())

    def forward(self, x):
        return self.conv(x)


class ResidualBlock(nn.Module):
    """``x + block(x)`` with two 3x3 ConvBlocks."""

    def __init__(self, channels):
        super().__init__()
        self.block = nn.Sequential(
            ConvBlock(channels, channels, kernel_size=3, padding=1),
            ConvBlock(channels, channels, use_act=False, kernel_size=3, padding=1))

    def forward(self, x):
        return x + self.block(x)


class CycleGenerator(nn.Module):
    """The book's ResNet generator (7x7 in, 2 down, ``num_residuals`` blocks, 2 up, 7x7 out)."""

    def __init__(self, img_channels=3, num_features=64, num_residuals=9):
        super().__init__()
        self.initial = nn.Sequential(
            nn.Conv2d(img_channels, num_features, kernel_size=7, stride=1, padding=3,
                      padding_mode="reflect"),
            nn.InstanceNorm2d(num_features),
            nn.ReLU(inplace=True))
        self.down_blocks = nn.ModuleList([
            ConvBlock(num_features, num_features * 2, kernel_size=3, stride=2, padding=1),
            ConvBlock(num_features * 2, num_features * 4, kernel_size=3, stride=2, padding=1)])
        self.res_blocks = nn.Sequential(
            *[ResidualBlock(num_features * 4) for _ in range(num_residuals)])
        self.up_blocks = nn.ModuleList([
            ConvBlock(num_features * 4, num_features * 2, down=False, kernel_size=3, stride=2,
                      padding=1, output_padding=1),
            ConvBlock(num_features * 2, num_features * 1, down=False, kernel_size=3, stride=2,
                      padding=1, output_padding=1)])
        self.last = nn.Conv2d(num_features * 1, img_channels, kernel_size=7, stride=1,
                              padding=3, padding_mode="reflect")

    def forward(self, x):
        x = self.initial(x)
        for layer in self.down_blocks:
            x = layer(x)
        x = self.res_blocks(x)
        for layer in self.up_blocks:
            x = layer(x)
        return torch.tanh(self.last(x))


class CycleGANTrainer:
    """The book's chapter-6 ``train_epoch`` body for one batch ``(A, B)``.

    Both discriminators share one Adam, both generators another (lr 1e-5, betas (0.5, 0.999)).
    autocast and GradScaler as in the book, but switched on only on CUDA (the book's
    ``torch.cuda.amp`` calls do nothing useful on a CPU).
    """

    def __init__(self, features: int = 64, num_residuals: int = 9,
                 disc_features=(64, 128, 256, 512), lr: float = 0.00001,
                 betas: tuple[float, float] = (0.5, 0.999), device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        cuda = self.device.type == "cuda"
        self.disc_A = Discriminator(3, disc_features).to(self.device)
        self.disc_B = Discriminator(3, disc_features).to(self.device)
        self.gen_A = CycleGenerator(3, features, num_residuals).to(self.device)
        self.gen_B = CycleGenerator(3, features, num_residuals).to(self.device)
        for m in (self.disc_A, self.disc_B, self.gen_A, self.gen_B):
            # The book calls `weights_init(disc_A)` on the whole model, not `.apply(...)`: the
            # class name "Discriminator"/"Generator" matches neither rule, so PyTorch's default
            # initialisation stays. Kept as in the book.
            weights_init(m)
        self.opt_disc = torch.optim.Adam(
            list(self.disc_A.parameters()) + list(self.disc_B.parameters()), lr=lr, betas=betas)
        self.opt_gen = torch.optim.Adam(
            list(self.gen_A.parameters()) + list(self.gen_B.parameters()), lr=lr, betas=betas)
        self.l1, self.mse = nn.L1Loss(), nn.MSELoss()
        self.d_scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        self.g_scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        self.amp = cuda

    def train_step(self, A: torch.Tensor, B: torch.Tensor):
        """One batch: A = black hair, B = blond hair, ``(B, 3, S, S)`` in [-1, 1]."""
        disc_A, disc_B, gen_A, gen_B = self.disc_A, self.disc_B, self.gen_A, self.gen_B
        mse, l1 = self.mse, self.l1
        A = A.to(self.device)
        B = B.to(self.device)
        # Train Discriminators A and B
        with torch.autocast(self.device.type, enabled=self.amp):
            fake_A = gen_A(B)
            D_A_real = disc_A(A)
            D_A_fake = disc_A(fake_A.detach())
            D_A_real_loss = mse(D_A_real, torch.ones_like(D_A_real))
            D_A_fake_loss = mse(D_A_fake, torch.zeros_like(D_A_fake))
            D_A_loss = D_A_real_loss + D_A_fake_loss
            fake_B = gen_B(A)
            D_B_real = disc_B(B)
            D_B_fake = disc_B(fake_B.detach())
            D_B_real_loss = mse(D_B_real, torch.ones_like(D_B_real))
            D_B_fake_loss = mse(D_B_fake, torch.zeros_like(D_B_fake))
            D_B_loss = D_B_real_loss + D_B_fake_loss
            D_loss = (D_A_loss + D_B_loss) / 2
        self.opt_disc.zero_grad()
        self.d_scaler.scale(D_loss).backward()
        self.d_scaler.step(self.opt_disc)
        self.d_scaler.update()
        # Train Generators A and B
        with torch.autocast(self.device.type, enabled=self.amp):
            D_A_fake = disc_A(fake_A)
            D_B_fake = disc_B(fake_B)
            loss_G_A = mse(D_A_fake, torch.ones_like(D_A_fake))
            loss_G_B = mse(D_B_fake, torch.ones_like(D_B_fake))
            cycle_B = gen_B(fake_A)
            cycle_A = gen_A(fake_B)
            cycle_B_loss = l1(B, cycle_B)
            cycle_A_loss = l1(A, cycle_A)
            G_loss = (loss_G_A + loss_G_B + cycle_A_loss * 10 + cycle_B_loss * 10)
        self.opt_gen.zero_grad()
        self.g_scaler.scale(G_loss).backward()
        self.g_scaler.step(self.opt_gen)
        self.g_scaler.update()
        return D_loss, G_loss
