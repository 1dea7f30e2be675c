"""The simulated dataset: procedural landscapes (landscape.py), pyretechnics fires (simulate.py)
and the generator that writes them in the organized_spreads layout (generator.py).

    python -m emberformer.data.generate out=DIR [n_sequences=60] [size=128] [steps=30] ...

Needs the `simulate` extra (pip install -e '.[simulate]') only to simulate fires.
"""
