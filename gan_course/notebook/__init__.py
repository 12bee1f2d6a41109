"""What the notebooks draw and the widgets they show.

=====================  ==========================================================================
:mod:`.grids`          image grids, per-epoch sample grids, loss curves, ``n_params``
:mod:`.conv`           convolution arithmetic in plain NumPy (the by-hand references of 02/03)
:mod:`.conv_pictures`  sliding-window and transposed-convolution pictures
:mod:`.explorers`      every ipywidgets explorer: pure render functions + thin widget wrappers
=====================  ==========================================================================
"""

from gan_course.notebook.grids import (
    n_params,
    plot_gan_history,
    plot_history,
    save_grid,
    show_epoch_grids,
    show_grid,
)

__all__ = ["n_params", "plot_gan_history", "plot_history", "save_grid", "show_epoch_grids",
           "show_grid"]
