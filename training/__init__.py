"""The offline pipeline: from the store's labelled incidents to an evaluated, versioned model.

``dataset``   labelled incidents (the label rule of ``core.labels``) as X, y and filing times
``metrics``   precision, recall and F1 per label, Brier score and calibration
``evaluate``  the model and three baselines on the same time splits
``ablation``  the model with one ingredient taken out at a time
``audit``     the training bugs whose tags the model most disagrees with, out of fold
``train``     evaluate, fit on everything, write a version with its card
``retrain``   train a challenger and promote it only when it is not worse (the gate)
``relabel``   the nightly batch: every stored incident classified with the active model

Built on ``core`` and ``classifier``; used by ``cli`` and ``service``, never importing them.
"""
