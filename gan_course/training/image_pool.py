"""The CycleGAN paper's buffer of past fakes (Shrivastava et al. 2017), with checkpointable state."""

from __future__ import annotations

import torch


class ImagePool:
    """Buffer of past fakes (the CycleGAN paper uses 50). ``size=0``: pass-through (the book).

    ``query(images)`` returns a batch of the same shape where each image is, with probability
    1/2 once the pool is full, swapped for an older fake - so the discriminator also sees the
    work of earlier generators and cannot chase only the latest one. Random draws use torch's
    global generator, which the training loop seeds and checkpoints.
    """

    def __init__(self, size: int = 0):
        self.size, self.images = int(size), []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch like ``images`` (detached), some of it replaced by older fakes."""
        if self.size <= 0:
            return images
        if self.images and self.images[0].device != images.device:
            self.to(images.device)  # restored from a checkpoint, which holds them on the CPU
        out = []
        for img in images.detach():
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif torch.rand(()) < 0.5:
                k = int(torch.randint(len(self.images), ()))
                out.append(self.images[k])
                self.images[k] = img
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict:
        """The stored fakes as one tensor (weights_only-safe), so resume is exact."""
        stored = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stored}

    def load_state_dict(self, state: dict) -> None:
        """Inverse of :meth:`state_dict` (the images move to the fakes' device at the next query)."""
        self.size = int(state["size"])
        self.images = list(state["images"].unbind(0)) if state["images"].numel() else []

    def to(self, device: torch.device) -> ImagePool:
        """Move the stored fakes to ``device``."""
        self.images = [img.to(device) for img in self.images]
        return self
