"""Forecast a fire several steps ahead by feeding the model its own output:
`python -m emberformer.predict ckpt=.../checkpoints/best.pt sequence=17 steps=6 [k=3] [mode=threshold|prob]`.

The command lives in `emberformer.analysis.predict`.
"""

from emberformer.analysis.predict import main

if __name__ == "__main__":
    main()
