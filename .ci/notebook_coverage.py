"""Write the book-card coverage table and the checked-cell counts into notebooks/README.md.

The course was planned from 71 concept cards of the book notes (chapters 4-6; cards with the same
title count once). ``CARDS`` below maps every card to the notebook cells that teach it and the
assignments that practise it. A cell is named by an *anchor*: a short, distinctive piece of its
text (a line of code, a heading). The script finds each anchor's cell, so the README can say
"05 · cell 12" and stay right when cells are added or moved: rerun it after editing a notebook.
An anchor that matches no cell, or more than one, is an error that names the card — the cell
that taught the card was changed or removed, and the mapping needs a look.

    python .ci/notebook_coverage.py            # rewrite the README sections between the markers
    python .ci/notebook_coverage.py --check    # exit 1 if the README is out of date (CI)
    python .ci/notebook_coverage.py --seeds ../shared/seeds   # also check the card titles

Cell numbers count every cell of the notebook from the top, markdown and code, starting at 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ASSIGNMENTS = REPO / "assignments" / "source"
README = NOTEBOOKS / "README.md"
MARKERS = {
    "coverage": ("<!-- coverage:start -->", "<!-- coverage:end -->"),
    "checked": ("<!-- checked-cells:start -->", "<!-- checked-cells:end -->"),
}
# nbval skips the output comparison of a code cell carrying one of these comment lines.
UNCHECKED_MARKERS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")


class CoverageError(ValueError):
    """An anchor that matches no cell or several, or a mapping that breaks a rule."""


@dataclass(frozen=True)
class Card:
    """One concept card: its title, the cells that teach it, the assignments that practise it."""

    title: str
    homes: tuple[tuple[str, str], ...]  # (notebook number, anchor)
    assignments: tuple[str, ...] = ()


def card(title: str, *homes: tuple[str, str], practise: tuple[str, ...] = ()) -> Card:
    """Build a :class:`Card` (a shorter spelling for the table below)."""
    return Card(title, tuple(homes), tuple(practise))


# fmt: off
CARDS: tuple[Card, ...] = (
    # --- chapter 4: a GAN for clothing items (notebooks 01 and 04) ---
    card("Generator Role in GANs",
         ("01", "G = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(),"),
         ("04", "## 1 · The game")),
    card("Defining Loss Function and Optimizers for GANs",
         ("01", "non_saturating = -F.logsigmoid(logit)"),
         ("04", "optim_D = torch.optim.Adam(D.parameters(), lr=1e-4)"),
         practise=("a01_mlp_generator",)),
    card("Training Process Overview for GANs",
         ("01", "def train_step(G, D, opt_g, opt_d, real, z_d, z_g):"),
         ("04", "def train_D_on_real(real):"),
         ("04", "def my_gan_step(G, D, opt_g, opt_d, real, latent_dim=100, real_label=1.0):")),
    card("Visualizing Generated Images During Training",
         ("04", "show_epoch_grids(run_dir(cfg))")),
    card("Training a GAN Model for Clothing Item Generation",
         ("04", "history = fit(task, batches, out_dir=run_dir(cfg), resume=True)")),
    card("Saving and Loading the Trained Generator",
         ("04", 'path = run_dir(cfg) / "fashion_G.pt"')),
    card("Modifying Generator G for Clothing Item Generation",
         ("04", "nn.Linear(100, 200), nn.ReLU(),"),
         practise=("a01_mlp_generator",)),
    # --- chapter 4: convolution (notebook 02) ---
    card("Two-Dimensional Convolutional Layers",
         ("02", "def conv2d_by_hand(image, kernel, bias=0.0, stride=1):"),
         ("02", "# The DCGAN discriminator's ladder"),
         practise=("a02_convolution", "a09_patchgan")),
    card("Convolutional Layers Overview",
         ("02", "conv_small = nn.Conv2d(1, 1, kernel_size=3)")),
    card("Concept: Convolutional Operations Explanation",
         ("02", "def conv2d_by_hand(image, kernel, bias=0.0, stride=1):"),
         practise=("a02_convolution",)),
    card("Convolutional Layer Basics",
         ("02", "conv = nn.Conv2d(in_channels=1, out_channels=1, kernel_size=2, stride=1)"),
         practise=("a02_convolution",)),
    card("Creating a Convolutional Layer",
         ("02", "conv = nn.Conv2d(in_channels=1, out_channels=1, kernel_size=2, stride=1)"),
         ("02", "layer = nn.Conv2d(1, 1, kernel_size=k, stride=s, padding=p)")),
    card("Concept: Zero-Padding in Convolutional Operations",
         ("02", "padded3 = np.pad(image, 1)"),
         ("02", "## 5 · Zero padding vs reflect padding"),
         practise=("a02_convolution",)),
    card("Padding in Convolutional Operations",
         ("02", "padded3 = np.pad(image, 1)"),
         ("02", "padded = np.pad(image5, 1)"),
         practise=("a02_convolution",)),
    card("Stride and Padding Example",
         ("02", "conv_notes = nn.Conv2d(1, 1, kernel_size=3, stride=2, padding=1, bias=False)"),
         ("02", "plot_sliding_window(input_size=5, kernel_size=3, stride=2, padding=1)"),
         ("02", "## 3 · The output-size formula"),
         practise=("a02_convolution", "a09_patchgan")),
    card("Concept: Shared Weights in Convolutional Layers",
         ("02", "conv_small = nn.Conv2d(1, 1, kernel_size=3)"),
         ("02", "w3 = np.array([[1, 2, 3],"),
         ("02", "**Translation equivariance.**")),
    # --- chapter 4: transposed convolution, batch norm, activations (notebook 03) ---
    card("Two-Dimensional Transposed Convolutional Layers (Deconvolution)",
         ("03", "## 1 · Transposed convolution by hand"),
         ("03", "## 2 · Output size of a transposed convolution"),
         ("03", "## 3 · Overlapping stamps"),
         practise=("a03_transposed_conv", "a04_dcgan_block")),
    card("Batch Normalization",
         ("03", "from gan_course.notebook.conv import batchnorm_numpy")),
    card("Two-Dimensional Batch Normalization",
         ("03", "bn_affine = nn.BatchNorm2d(3)"),
         ("03", "**Running statistics and eval mode.**"),
         practise=("a04_dcgan_block",)),
    card("LeakyReLU Activation Function",
         ("03", "leaky = nn.LeakyReLU(0.2)(v)"),
         ("05", "nn.Conv2d(64, 128, 4, 2, 1, bias=False),   # -> 128 x 16 x 16"),
         ("06", "class Critic(nn.Module):"),
         practise=("a04_dcgan_block",)),
    card("Tanh Activation Function Usage",
         ("03", "tanh = nn.Tanh()(v)"),
         ("06", "nn.ConvTranspose2d(Z + K, 8 * W, 4, 1, 0, bias=False)")),
    card("Activation Function in Generator Output",
         ("03", "tanh = nn.Tanh()(v)"),
         ("04", "nn.Linear(1024, 784), nn.Tanh(),"),
         ("05", "nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False),     # -> 3 x 64 x 64")),
    card("Channels-First vs. Channels-Last Image Shapes in PyTorch",
         ("03", "## 7 · Channels-first vs channels-last"),
         ("05", "face = draw_face(seed=7, size=64)")),
    # --- chapter 4: DCGAN on anime faces (notebook 05) ---
    card("Loading Anime Faces Data",
         ("00", "## 3 · Same layout on disk as the real thing"),
         ("05", 'cfg = get_config("dcgan", env.profile, seed=env.seed)')),
    card("Converting Images to Tensors and Normalizing",
         ("04", 'print("values inside [-1, 1]:"'),
         ("05", "x = to_unit_range(torch.from_numpy(face).permute(2, 0, 1))")),
    card("Creating Batches of Training Data",
         ("04", "images, labels = next(batches.epoch(env.generator))"),
         ("05", 'cfg = get_config("dcgan", env.profile, seed=env.seed)')),
    card("Plotting Images in PyTorch",
         ("03", 'axes[0].set_title("permute + *0.5+0.5")'),
         ("04", 'ax.imshow(img.view(28, 28) * 0.5 + 0.5, cmap="gray", vmin=0, vmax=1)')),
    card("Defining a DCGAN Model",
         ("05", "## 2 · The book's discriminator"),
         ("05", "## 3 · The book's generator"),
         ("05", "G_pkg, D_pkg = DCGANGenerator(), DCGANDiscriminator()"),
         practise=("a04_dcgan_block",)),
    card("Discriminator Network Structure",
         ("05", "nn.Conv2d(3, 64, 4, 2, 1, bias=False),     # 3 x 64 x 64  -> 64 x 32 x 32"),
         practise=("a04_dcgan_block",)),
    card("Batch Normalization in Discriminator",
         ("05", "BatchNorm sits after every convolution except the first"),
         practise=("a04_dcgan_block",)),
    card("Loss Function for DCGAN",
         ("05", "logit = torch.tensor([[-120.0]], requires_grad=True)"),
         ("05", "print(inspect.getsource(steps.gan_step))")),
    card("Generator Design in DCGAN",
         ("05", "nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False),  # 100 x 1 x 1 -> 512 x 4 x 4"),
         practise=("a04_dcgan_block",)),
    card("Symmetry in Generator and Discriminator Layers",
         ("03", "# Conv2d(4, 2, 1) halves, ConvTranspose2d(4, 2, 1) doubles back."),
         ("05", "The generator mirrors the discriminator")),
    card("Weights Initialization Function",
         ("05", "def weights_init_book(m):"),
         ("05", "G_fresh = init_weights(DCGANGenerator())"),
         ("06", "applies `weights_init` to every layer")),
    card("Adam Optimizer Parameters",
         ("05", "a lower first beta makes Adam's momentum forget faster"),
         ("06", "with Adam (lr 1e-4, betas (0.0, 0.9))")),
    card("Training Loop for DCGAN",
         ("04", "def my_gan_step(G, D, opt_g, opt_d, real, latent_dim=100, real_label=1.0):"),
         ("05", "print(inspect.getsource(steps.gan_step))")),
    card("Training a GAN on Anime Faces",
         ("05", 'cfg = get_config("dcgan", env.profile, seed=env.seed)'),
         ("05", "history = fit(task, batches, out_dir=run_dir(cfg), resume=True)")),
    card("Training DCGAN: `test_epoch()` Function",
         ("05", "show_epoch_grids(run_dir(cfg))")),
    card("Training Process for DCGAN: Epochs and Visualization",
         ("05", "It trains 20 epochs of batches of 128"),
         ("05", "history = fit(task, batches, out_dir=run_dir(cfg), resume=True)")),
    card("Visualizing Multiple Images in a Grid",
         ("04", "fig, axes = plt.subplots(4, 8, figsize=(10, 5.6))"),
         ("05", 'real_faces, _ = heldout.faces(32, size, "eval")')),
    card("Model Saving and Loading",
         ("05", 'path = run_dir(cfg) / "anime_G.pt"')),
    # --- chapter 5: conditional WGAN-GP on eyeglasses (notebooks 06 and 01) ---
    card("Conditional GAN Overview",
         ("06", "## The plan"),
         ("06", "## 2 · Feeding the label to both networks")),
    card("cGAN and WGAN Combined",
         ("06", "## The plan"),
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,")),
    card("Creating Data with Labels for Training",
         ("06", "onehots = F.one_hot(y, num_classes=2).float()"),
         ("06", "planes = label_planes(torch.tensor([0, 1]), num_classes=2, size=4)"),
         practise=("a05_cgan_wgan_gp",)),
    card("Wasserstein Distance and Gradient Penalty",
         ("01", "## 7 · The Wasserstein (earth-mover) distance"),
         ("01", 'rows.append({"shift": theta, "JSD": round(jsd_of(p, q), 3), "W1": round(w1, 3)})'),
         ("06", "## 4 · The Wasserstein distance, the critic and the gradient penalty"),
         practise=("a05_cgan_wgan_gp", "a08_wgan_gp_points")),
    card("Gradient Penalty Calculation",
         ("01", "def gradient_penalty_inline(critic, real, fake, alpha):"),
         ("06", "def gradient_penalty_inline(critic, real, fake, alpha):"),
         practise=("a05_cgan_wgan_gp", "a08_wgan_gp_points")),
    card("Critic's Objective Function",
         ("01", "**The critic.**"),
         ("06", "## 4 · The Wasserstein distance, the critic and the gradient penalty"),
         practise=("a08_wgan_gp_points",)),
    card("Implementing Wasserstein Distance and Gradient Penalty",
         ("01", 'wgan = PointGANConfig(loss="wgan-gp"'),
         ("06", 'print("inline GP == gan_course GP:", torch.allclose(mine, theirs))'),
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,"),
         practise=("a05_cgan_wgan_gp", "a08_wgan_gp_points")),
    card("Gradient Penalty in WGAN",
         ("01", "norms = grad_at(critic0, grid).norm(dim=1)"),
         ("06", "gp_linear = gradient_penalty(linear, real, fake)"),
         ("06", "book_critic = Critic(projection=False)"),
         practise=("a05_cgan_wgan_gp", "a08_wgan_gp_points")),
    card("Critic Network Overview",
         ("06", "class Critic(nn.Module):"),
         ("06", "C_pkg = CGANCritic(num_classes=K, img_size=32, features=W, projection=True)")),
    card("Generator Network Overview",
         ("06", "def generate(G, z, onehots):"),
         ("06", "C_pkg = CGANCritic(num_classes=K, img_size=32, features=W, projection=True)")),
    card("Optimizer Setup for Critic and Generator",
         ("06", "def adam(net):"),
         ("06", "with Adam (lr 1e-4, betas (0.0, 0.9))")),
    card("Training cGAN Using Wasserstein Distance",
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,"),
         ("06", "history = fit(task, batches, out_dir=run_dir(cfg), resume=True)")),
    card("Training the Critic and Generator",
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,"),
         practise=("a08_wgan_gp_points",)),
    card("Training the Generator",
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,"),
         practise=("a08_wgan_gp_points",)),
    card("cGAN Training Process",
         ("06", "The fakes get the labels of the real batch"),
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,")),
    card("Training the cGAN",
         ("06", "def my_wgan_gp_step(G, C, opt_g, opt_c, real, labels,"),
         ("06", "theirs = [steps.wgan_gp_step(")),
    card("Training a cGAN Model",
         ("06", "history = fit(task, batches, out_dir=run_dir(cfg), resume=True)"),
         ("06", "def both_labels(G, z):")),
    card("Vector Selection for Attributes",
         ("06", "## 10 · Label arithmetic"),
         ("06", "from gan_course.notebook.explorers import slerp"),
         ("06", "i_male, i_female = int(p_male.argmax()), int(p_male.argmin())")),
    card("Combining Conditional GAN with Vector Selection",
         ("06", "i_male, i_female = int(p_male.argmax()), int(p_male.argmin())")),
    # --- chapter 6: CycleGAN, black <-> blond hair (notebook 07) ---
    card("Concept of Generators and Loss Functions in CycleGAN",
         ("07", "## The idea"),
         ("07", "### 4.4 One training step")),
    card("Concept of CycleGAN and Loss Components",
         ("07", "## The idea"),
         ("07", "### 4.2 Cycle consistency"),
         ("07", "cheat_AB = lookup(A_faces, wrong_blond)"),
         practise=("a06_cyclegan",)),
    card("Concept of Using Pandas for Data Processing",
         ("00", 'celeba_attrs = pd.read_csv(scratch / "celeba" / "list_attr_celeba.csv")'),
         ("06", 'table = pd.read_csv(raw / "train.csv")'),
         ("07", 'attrs = pd.read_csv(raw / "list_attr_celeba.csv")'),
         ("07", 'black, blond = attrs["Black_Hair"] == 1, attrs["Blond_Hair"] == 1')),
    card("Padding Mode: Reflect",
         ("02", "## 5 · Zero padding vs reflect padding"),
         ("07", 'print("reflect padding:", F.pad(row, (2, 2), mode="reflect")'),
         practise=("a06_cyclegan",)),
    card("Generator Network Architecture",
         ("07", "class Generator(nn.Module):"),
         ("07", "### 2.5 The demo's generator draws only the change"),
         practise=("a06_cyclegan",)),
    card("Residual Connection in Deep Learning",
         ("07", "class ResBlock(nn.Module):"),
         practise=("a06_cyclegan",)),
    card("Defining the Discriminator Class",
         ("07", "class PatchD(nn.Module):"),
         ("07", "def receptive_field(layers):"),
         practise=("a09_patchgan",)),
    card("Creating Discriminators",
         ("07", "## The idea"),
         ("07", "print(inspect.getsource(cyclegan_step))")),
    card("Loss Functions Used in Training",
         ("07", "from gan_course.losses import cycle_loss, identity_loss, lsgan_loss"),
         ("07", "### 4.2 Cycle consistency"),
         ("07", "### 4.3 Identity loss"),
         practise=("a06_cyclegan",)),
    card("Training the Discriminators in CycleGAN",
         ("07", "### 4.4 One training step"),
         ("07", "print(inspect.getsource(cyclegan_step))")),
    card("Training the CycleGAN Model",
         ("07", "print(inspect.getsource(cyclegan_step))"),
         ("07", "history = fit(task, batches, out_dir=run_dir(cfg), resume=True)")),
)
# fmt: on


def _squash(text: str) -> str:
    """Collapse runs of whitespace, so re-wrapping a paragraph does not break its anchor."""
    return re.sub(r"\s+", " ", text).strip()


def notebook_path(number: str, root: Path = NOTEBOOKS) -> Path:
    """The one notebook ``NN_*.ipynb`` of ``root`` whose name starts with ``number``."""
    found = sorted(root.glob(f"{number}_*.ipynb"))
    if len(found) != 1:
        raise CoverageError(f"expected one notebook {number}_*.ipynb in {root}, found "
                            f"{[p.name for p in found] or 'none'}")
    return found[0]


def load_cells(path: Path) -> list[dict]:
    """The cells of a notebook file, each with its source joined into one string."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [dict(c, source="".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in cells]


def find_cell(cells: list[dict], anchor: str, where: str) -> int:
    """Index (0-based) of the one cell whose text contains ``anchor`` (whitespace-insensitive).

    ``where`` names the card and the notebook for the error message.
    """
    needle = _squash(anchor)
    if not needle:
        raise CoverageError(f"{where}: empty anchor")
    hits = [i for i, c in enumerate(cells) if needle in _squash(c["source"])]
    if not hits:
        raise CoverageError(f"{where}: anchor {anchor!r} is in no cell; the cell that taught "
                            "this card was changed or removed: point the card at its new home "
                            "in CARDS (.ci/notebook_coverage.py)")
    if len(hits) > 1:
        cells_1 = ", ".join(str(i + 1) for i in hits)
        raise CoverageError(f"{where}: anchor {anchor!r} is ambiguous (cells {cells_1}); make it "
                            "longer so that it names one cell")
    return hits[0]


def section_of(cells: list[dict], index: int, anchor: str) -> str:
    """The ``## `` heading at or above the anchor (and a ``### `` under it): the cell's section."""
    section, sub = "", ""
    for i, c in enumerate(cells[: index + 1]):
        if c["cell_type"] != "markdown":
            continue
        squashed = _squash(c["source"])
        # in the anchor's own cell only the headings up to the anchor count
        limit = squashed.find(_squash(anchor)) if i == index else len(squashed)
        for line in c["source"].splitlines():
            if not line.startswith(("## ", "### ")) or squashed.find(_squash(line)) > limit:
                continue
            if line.startswith("## "):
                section, sub = line[3:].strip(), ""
            else:
                sub = line[4:].strip()
    return f"{section} › {sub}" if section and sub else section


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def resolve(cards: tuple[Card, ...] | None = None, root: Path = NOTEBOOKS,
            assignments: Path = ASSIGNMENTS):
    """Each card with its homes resolved: ``[(card, [(path, cell number, section), ...])]``.

    Raises :class:`CoverageError` naming the card for a missing or ambiguous anchor, a card with
    no home, a duplicate title or an assignment that does not exist.
    """
    cards = CARDS if cards is None else cards
    cache: dict[str, tuple[Path, list[dict]]] = {}
    seen: set[str] = set()
    resolved = []
    for number, c in enumerate(cards, 1):
        where_card = f"card {number} {c.title!r}"
        if c.title in seen:
            raise CoverageError(f"{where_card}: listed twice")
        seen.add(c.title)
        if not c.homes:
            raise CoverageError(f"{where_card}: no notebook cell teaches it")
        for a in c.assignments:
            if not (assignments / a / f"{a}.ipynb").is_file():
                raise CoverageError(f"{where_card}: assignment {a}/{a}.ipynb is not in "
                                    f"{assignments}")
        homes = []
        for nb, anchor in c.homes:
            if nb not in cache:
                path = notebook_path(nb, root)
                cache[nb] = (path, load_cells(path))
            path, cells = cache[nb]
            index = find_cell(cells, anchor, f"{where_card} in {path.name}")
            home = (path, index + 1, section_of(cells, index, anchor))
            if home not in homes:
                homes.append(home)
        resolved.append((c, sorted(homes, key=lambda h: (h[0].name, h[1]))))
    return resolved


def coverage_table(cards: tuple[Card, ...] | None = None, root: Path = NOTEBOOKS,
                   assignments: Path = ASSIGNMENTS) -> str:
    """The markdown coverage table (one row per card, numbered as in ``CARDS``)."""
    resolved = resolve(cards, root, assignments)
    rows = ["| # | concept card (book notes) | taught in (notebook · cell — its section) "
            "| also practised in (assignment) |",
            "|---|---|---|---|"]
    for number, (c, homes) in enumerate(resolved, 1):
        where = "; ".join(f"[{p.name[:2]} · cell {cell}]({p.name})"
                          + (f" — § {_escape(section)}" if section else "")
                          for p, cell, section in homes)
        practise = ", ".join(f"[`{a}`](../assignments/source/{a}/{a}.ipynb)"
                             for a in c.assignments) or "—"
        rows.append(f"| {number} | {_escape(c.title)} | {where} | {practise} |")
    rows.append("")
    rows.append(f"{len(resolved)} cards, each with at least one home.")
    return "\n".join(rows)


def is_checked(cell: dict) -> bool:
    """True for a code cell whose output nbval compares (no ignore/skip marker, as nbval reads)."""
    if cell["cell_type"] != "code":
        return False
    tags = cell.get("metadata", {}).get("tags", [])
    if any(t in ("nbval-ignore-output", "nbval-skip") for t in tags):
        return False
    for line in cell["source"].splitlines():
        line = line.strip()
        if line.startswith("#") and line.lstrip("#").strip() in UNCHECKED_MARKERS:
            return False
    return True


def checked_counts(root: Path = NOTEBOOKS) -> list[tuple[str, int, int]]:
    """``(notebook number, checked code cells, all code cells)`` for every ``NN_*.ipynb``."""
    counts = []
    for path in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        cells = load_cells(path)
        code = [c for c in cells if c["cell_type"] == "code"]
        counts.append((path.name[:2], sum(map(is_checked, code)), len(code)))
    return counts


def checked_line(root: Path = NOTEBOOKS) -> str:
    """The README sentence with the checked-cell counts."""
    parts = "; ".join(f"{nb}: {k} of {n}" for nb, k, n in checked_counts(root))
    return f"Checked code cells per notebook: {parts}."


def replace_between(text: str, name: str, body: str) -> str:
    """``text`` with the part between the two markers of ``name`` replaced by ``body``."""
    start, end = MARKERS[name]
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise CoverageError(f"{README.name}: needs exactly one {start} followed by one {end}")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(readme_text: str, root: Path = NOTEBOOKS, cards: tuple[Card, ...] | None = None) -> str:
    """The README text with both generated sections brought up to date."""
    text = replace_between(readme_text, "coverage", coverage_table(cards, root))
    return replace_between(text, "checked", checked_line(root))


def check_seed_titles(seeds: Path, cards: tuple[Card, ...] | None = None) -> None:
    """Raise unless the card titles are exactly the ``#### `` titles of the book notes in ``seeds``."""
    titles = set()
    for f in sorted(seeds.glob("*.txt")):
        titles |= {line[5:].strip() for line in f.read_text(encoding="utf-8").splitlines()
                   if line.startswith("#### ")}
    ours = {c.title for c in (CARDS if cards is None else cards)}
    if titles != ours:
        raise CoverageError(f"card titles differ from the notes in {seeds}: missing here "
                            f"{sorted(titles - ours)}, unknown there {sorted(ours - titles)}")


def main(argv: list[str] | None = None, readme: Path = README) -> int:
    """Command line: rewrite the README (default) or ``--check`` it; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the README is out of date")
    parser.add_argument("--seeds", type=Path,
                        help="folder of the book notes (*.txt): check the card titles against it")
    args = parser.parse_args(argv)
    try:
        if args.seeds:
            check_seed_titles(args.seeds)
        old = readme.read_text(encoding="utf-8")
        new = render(old, root=readme.parent)
    except CoverageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(checked_line(readme.parent))
    if args.check:
        if new != old:
            print(f"{readme.relative_to(REPO) if readme.is_relative_to(REPO) else readme} is out "
                  "of date: run python .ci/notebook_coverage.py", file=sys.stderr)
            return 1
        print(f"coverage table up to date: {len(CARDS)} cards")
        return 0
    if new != old:
        readme.write_text(new, encoding="utf-8")
        print(f"wrote {readme}")
    else:
        print("README already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
