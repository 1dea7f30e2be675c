"""EmberFormer: Hydra-composed experiments for next-step wildfire spread prediction.

`python -m emberformer.train` trains; README "Where things live" maps the package.
"""
