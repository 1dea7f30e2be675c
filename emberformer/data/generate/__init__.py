"""The simulated dataset: procedural landscapes (landscape.py), pyretechnics fires (simulate.py)
and the generator that writes them in the organized_spreads layout (generator.py); and a scale
fixture shaped like the real export, without the simulator, for speed and memory (scale.py).

    python -m emberformer.data.generate out=DIR [n_sequences=60] [size=128] [steps=30] ...
    python -m emberformer.data.generate.scale out=DIR [fraction=1.0]

Needs the `simulate` extra (pip install -e '.[simulate]') only to simulate fires.
"""
